"""The fused CPU backend: whole-sequence neuron kernels compiled with numba.

One kernel call runs all T steps of a layer (no per-step Python, no per-step tensors); its
backward recomputes the membrane from the saved input, so BPTT keeps nothing per time step beyond
the layer's input. Operations:

=======================  =========================================  ==================================
op                       used by                                    options handled
=======================  =========================================  ==================================
``lif``                  :class:`~neuro.neurons.LIF`                hard/subtract/no reset, delayed
``plif``                 :class:`~neuro.neurons.PLIF`               (snnTorch) timing, detach_reset,
``if``                   :class:`~neuro.neurons.IF`                 decay_input, learnable tau,
``cuba_lif``             :class:`~neuro.neurons.CubaLIF`            threshold, v_leak, r; every
``alif``                 :class:`~neuro.neurons.ALIF`               built-in surrogate
``event_linear``         :class:`~neuro.layers.EventLinear`         any input values, float32/64
``shared_input_linear``  :func:`~neuro.layers.shared_input`         several EventLinear, one input
``event_conv2d``         :class:`~neuro.layers.EventConv2d`         stride 1, square kernel, float32/64
``max_pool2d``           :class:`~neuro.layers.MaxPool2d`           window = stride, no padding
``recurrent_lif``        :class:`~neuro.layers.RecurrentLIF`        inference, immediate resets
``spiking_linear``       :class:`~neuro.layers.SpikingLinear`       the LIF family, sparse inputs
``spiking_max_pool2d``   :class:`~neuro.layers.SpikingMaxPool2d`    the LIF family, window = stride
``spiking_avg_pool2d``   :class:`~neuro.layers.SpikingAvgPool2d`    the LIF family, window = stride
``batch_norm_neuron``    :class:`~neuro.layers.BatchNormNeuron`     the LIF family, fixed scalars
=======================  =========================================  ==================================

Anything else (float16/bfloat16, per-neuron parameter tensors, a custom surrogate or reset rule,
a ``v_reset`` that requires grad, a step function the table does not list) is declined by the op's
``supports`` and runs on the reference backend. Needs ``numba`` (``pip install
neuro[fast]``); without it the backend reports itself unavailable and nothing else changes.

Example:
    >>> import torch
    >>> from neuro import LIF, backends
    >>> with backends.use("fused"):
    ...     spikes, state = LIF()(torch.full((3, 1, 2), 2.0))
    >>> spikes[:, 0, 0].tolist()
    [1.0, 1.0, 1.0]
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from neuro.backends import Impl
from neuro.backends._spec import (
    KernelSpec,
    Unsupported,
    alif_spec,
    check_tensors,
    cuba_spec,
    if_spec,
    lif_spec,
    spec_for,
)
from neuro.neurons.alif import alif_step
from neuro.neurons.cuba_lif import cuba_lif_step
from neuro.neurons.if_ import if_step
from neuro.neurons.lif import lif_step

__all__ = [
    "OPS",
    "availability",
    "batch_norm_neuron",
    "event_conv2d",
    "event_linear",
    "max_pool2d",
    "recurrent_lif",
    "shared_input_linear",
    "spiking_avg_pool2d",
    "spiking_linear",
    "spiking_max_pool2d",
    "why_not",
]


def availability() -> str | None:
    """``None`` when numba imports, else the reason (a missing or broken numba never breaks neuro)."""
    try:
        import numba  # noqa: F401
    except Exception as exc:
        return f"numba is not usable ({type(exc).__name__}: {exc}); pip install 'neuro[fast]'"
    return None


def _spec_of(step: Callable[..., Any]) -> Callable[[Any, torch.dtype], KernelSpec] | None:
    return {lif_step: lif_spec, if_step: if_spec, cuba_lif_step: cuba_spec, alif_step: alif_spec}.get(step)


def why_not(step: Callable[..., Any], x: Tensor, state: NamedTuple, params: NamedTuple) -> str | None:
    """Why the fused kernels decline these inputs (``None``: they take them)."""
    make = _spec_of(step)
    if make is None:
        return f"no fused kernel for step function {getattr(step, '__name__', step)!r}"
    try:
        check_tensors(x, state, "cpu")
        spec_for(make, params, x.dtype)
    except Unsupported as exc:
        return str(exc)
    return None


def _supports(step: Callable[..., Any], x: Tensor, state: NamedTuple, params: NamedTuple) -> bool:
    return why_not(step, x, state, params) is None


def run(step: Callable[..., Any], x: Tensor, state: NamedTuple, params: NamedTuple, record: bool = False
        ) -> tuple[Tensor, NamedTuple, NamedTuple | None]:
    """The backend operation for every neuron in the table above (dispatch on ``step``)."""
    spec = spec_for(_spec_of(step), params, x.dtype)
    if step is alif_step:
        from neuro.backends._fused_alif import run_alif

        return run_alif(spec, x, state, record)
    from neuro.backends._fused_lif import run_lif_family

    return run_lif_family(spec, x, state, record)


def _conv_supports(x: Tensor, weight: Tensor, bias: Tensor | None, padding: int, max_density: float = 1.0) -> bool:
    tensors = [x, weight] + ([] if bias is None else [bias])
    return (x.dim() == 4 and weight.dim() == 4 and x.shape[1] == weight.shape[1] and x.numel() > 0
            and weight.shape[2] == weight.shape[3] and isinstance(padding, int) and padding >= 0
            and min(x.shape[2], x.shape[3]) + 2 * padding >= weight.shape[2]
            and all(t.device.type == "cpu" and t.dtype == x.dtype for t in tensors)
            and x.dtype in (torch.float32, torch.float64))


def _density(x: Tensor) -> float:
    """Fraction of non-zero elements of an ``(N, C, H, W)`` tensor, from every 2nd row and 4th column of large
    ones (a view, whatever the layout: a decision between two exact paths needs no exact count)."""
    sample = x[..., ::2, ::4] if x.numel() >= 1 << 16 and min(x.shape[-2:]) >= 8 else x
    return int(torch.count_nonzero(sample)) / max(1, sample.numel())


def event_conv2d(x: Tensor, weight: Tensor, bias: Tensor | None, padding: int, max_density: float = 1.0
                 ) -> Tensor | None:
    """``F.conv2d(x, weight, bias, padding=padding)`` (stride 1) from the non-zero inputs; when ``x`` is denser than
    ``max_density``, the dense convolution with its weight gradient from a channels-last input if that pays
    (``x`` with at least :data:`~neuro.backends._fused_conv.NHWC_WEIGHT_GRAD_CHANNELS` channels and a weight that
    needs a gradient), else ``None`` (see :mod:`neuro.backends._fused_conv`)."""
    from neuro.backends import _fused_conv as fc

    if max_density < 1.0 and _density(x) > max_density:
        if x.shape[1] >= fc.NHWC_WEIGHT_GRAD_CHANNELS and weight.requires_grad and torch.is_grad_enabled():
            return fc.dense_conv2d(x, weight, bias, padding)
        return None
    return fc.event_conv2d(x, weight, bias, padding)


def _pool_supports(x: Tensor, k: int) -> bool:
    return (x.dim() == 4 and x.is_contiguous() and x.device.type == "cpu" and x.dtype in (torch.float32, torch.float64)
            and isinstance(k, int) and 1 <= k <= 15 and x.shape[2] >= k and x.shape[3] >= k and x.numel() > 0)


def max_pool2d(x: Tensor, k: int) -> Tensor:
    """``F.max_pool2d(x, k)`` with window = stride = ``k`` (see :mod:`neuro.backends._fused_pool`)."""
    from neuro.backends._fused_pool import max_pool2d as run_pool

    return run_pool(x, k)


def _event_supports(x: Tensor, weight: Tensor, bias: Tensor | None, max_density: float = 1.0,
                    max_forward_density: float | None = None) -> bool:
    tensors = [x, weight] + ([] if bias is None else [bias])
    return (x.dim() == 2 and weight.dim() == 2 and x.shape[1] == weight.shape[1] and x.numel() > 0
            and all(t.device.type == "cpu" and t.dtype == x.dtype for t in tensors)
            and x.dtype in (torch.float32, torch.float64))


def event_linear(x: Tensor, weight: Tensor, bias: Tensor | None, max_density: float = 1.0,
                 max_forward_density: float | None = None) -> Tensor | None:
    """``x @ weight.T + bias`` gathering only the non-zero inputs (the forward pass alone up to
    ``max_forward_density``), or ``None`` when ``x`` is too dense (see :mod:`neuro.backends._fused_event`)."""
    from neuro.backends._fused_event import event_linear as run_event

    return run_event(x, weight, bias, max_density, max_forward_density)


def _shared_supports(x: Tensor, params: list[tuple[Tensor, Tensor | None]], max_density: float = 1.0,
                     max_forward_density: float | None = None) -> bool:
    return bool(params) and all(_event_supports(x, w, b) for w, b in params)


def shared_input_linear(x: Tensor, params: list[tuple[Tensor, Tensor | None]], max_density: float = 1.0,
                        max_forward_density: float | None = None) -> tuple[Tensor, ...] | None:
    """``x @ w.T + b`` for every ``(w, b)`` of ``params``, ``x`` scanned and compressed once for all, or ``None``
    when ``x`` is too dense (see :func:`neuro.backends._fused_event.shared_input_linear`)."""
    from neuro.backends._fused_event import shared_input_linear as run_shared

    return run_shared(x, params, max_density, max_forward_density)


def _recurrent_supports(x: Tensor, state: NamedTuple, params: NamedTuple, weight: Tensor) -> bool:
    try:
        spec = lif_spec(params, x.dtype)
        check_tensors(x, type(state)(*state), "cpu")
    except Unsupported:
        return False
    needs_grad = torch.is_grad_enabled() and (
        x.requires_grad or weight.requires_grad or any(t.requires_grad for t in state)
        or any(t.requires_grad for t in spec.scalars.values()))
    return (x.dim() == 3 and not spec.delayed and not needs_grad and weight.dtype == x.dtype
            and weight.device.type == "cpu")


def recurrent_lif(x: Tensor, state: NamedTuple, params: NamedTuple, weight: Tensor) -> tuple[Tensor, NamedTuple]:
    """Inference of :class:`~neuro.layers.RecurrentLIF` on the event-driven kernel."""
    import numpy as np

    from neuro.backends._numba_recurrent import run as run_recurrent

    spec = lif_spec(params, x.dtype)
    k = spec.scalars
    c = np.array([float(k["decay"]), float(k["leak"]), float(k["gain"]), float(k["v_threshold"]),
                  spec.consts["v_reset"]], dtype=x.detach().numpy().dtype)
    out, v_out, _ = run_recurrent(x.detach().contiguous().numpy(), state.v.detach().contiguous().numpy(),
                                  state.s.detach().contiguous().numpy(), weight.detach().numpy(), c, spec.reset,
                                  False, torch.get_num_threads())
    out = torch.from_numpy(out)
    return out, type(state)(torch.from_numpy(v_out), out[-1].clone() if x.shape[0] else state.s)


def _spiking_supports(step: Callable[..., Any], x: Tensor, weight: Tensor, bias: Tensor | None, state: NamedTuple,
                      params: NamedTuple, max_density: float = 1.0, recompute: bool = False) -> bool:
    if step is alif_step or x.dim() < 3 or not _event_supports(x.reshape(-1, x.shape[-1]), weight, bias):
        return False
    return why_not(step, x.new_empty(x.shape[0], *state.v.shape), state, params) is None


def spiking_linear(step: Callable[..., Any], x: Tensor, weight: Tensor, bias: Tensor | None, state: NamedTuple,
                   params: NamedTuple, max_density: float = 1.0, recompute: bool = False
                   ) -> tuple[Tensor, NamedTuple] | None:
    """A LIF-family neuron on ``x W^T + b``, fused (see :mod:`neuro.backends._fused_spiking`, also for
    ``recompute``), or ``None`` when ``x`` is denser than ``max_density``."""
    from neuro.backends._fused_spiking import spiking_linear as run_fused

    return run_fused(spec_for(_spec_of(step), params, x.dtype), x, weight, bias, state, max_density, recompute)


def _spiking_pool_supports(step: Callable[..., Any], x: Tensor, state: NamedTuple, params: NamedTuple, k: int
                           ) -> bool:
    if (step is alif_step or x.dim() < 4 or not x.is_contiguous() or isinstance(k, bool) or not isinstance(k, int)
            or not 1 <= k <= 15 or x.shape[-2] < k or x.shape[-1] < k):
        return False
    return why_not(step, x, state, params) is None


def spiking_max_pool2d(step: Callable[..., Any], x: Tensor, state: NamedTuple, params: NamedTuple, k: int
                       ) -> tuple[Tensor, NamedTuple]:
    """A LIF-family neuron over ``x`` ``(T, B, ..., H, W)`` and ``F.max_pool2d(spikes, k)`` as one operation
    (see :mod:`neuro.backends._fused_lif_pool`): ``(pooled spikes, the neuron's final state)``."""
    from neuro.backends._fused_lif_pool import run_lif_pool

    return run_lif_pool(spec_for(_spec_of(step), params, x.dtype), x, state, k)


def spiking_avg_pool2d(step: Callable[..., Any], x: Tensor, state: NamedTuple, params: NamedTuple, k: int
                       ) -> tuple[Tensor, NamedTuple]:
    """:func:`spiking_max_pool2d` with ``F.avg_pool2d(spikes, k)``."""
    from neuro.backends._fused_lif_pool import run_lif_pool

    return run_lif_pool(spec_for(_spec_of(step), params, x.dtype), x, state, k, avg=True)


def _bn_neuron_supports(step: Callable[..., Any], norm: nn.Module, z: Tensor, inner: int, state: NamedTuple,
                        params: NamedTuple) -> bool:
    from neuro.backends._spec import LIF_SCALARS

    if step is alif_step or not isinstance(norm, nn.modules.batchnorm._BatchNorm) or not z.is_contiguous():
        return False
    tensors = [t for t in (norm.weight, norm.bias, norm.running_mean, norm.running_var) if t is not None]
    if (z.dim() < 2 or z.numel() == 0 or z[0].numel() % (norm.num_features * inner)
            or any(t.dtype != z.dtype or t.device != z.device for t in tensors)):
        return False
    if why_not(step, z, state, params) is not None:
        return False
    spec = spec_for(_spec_of(step), params, z.dtype)
    return not any(spec.scalars[k].requires_grad for k in LIF_SCALARS if k in spec.scalars)  # kernels: no scalar grads


def batch_norm_neuron(step: Callable[..., Any], norm: nn.Module, z: Tensor, inner: int, state: NamedTuple,
                      params: NamedTuple) -> tuple[Tensor, NamedTuple]:
    """``neuron(norm(z))`` as one operation (see :mod:`neuro.backends._fused_bn_lif`): a LIF-family neuron on a
    batch normalisation whose channels lie at stride ``inner`` in ``z`` ``(T, B, ...)``; ``(spikes, state)``."""
    from neuro.backends._fused_bn_lif import run_bn_neuron

    return run_bn_neuron(spec_for(_spec_of(step), params, z.dtype), norm, z, inner, state)


_NEURON = Impl(run, _supports)

#: Operation name -> implementation.
OPS: dict[str, Impl] = {"lif": _NEURON, "plif": _NEURON, "if": _NEURON, "cuba_lif": _NEURON, "alif": _NEURON,
                        "event_linear": Impl(event_linear, _event_supports),
                        "shared_input_linear": Impl(shared_input_linear, _shared_supports),
                        "event_conv2d": Impl(event_conv2d, _conv_supports),
                        "max_pool2d": Impl(max_pool2d, _pool_supports),
                        "recurrent_lif": Impl(recurrent_lif, _recurrent_supports),
                        "spiking_linear": Impl(spiking_linear, _spiking_supports),
                        "spiking_max_pool2d": Impl(spiking_max_pool2d, _spiking_pool_supports),
                        "spiking_avg_pool2d": Impl(spiking_avg_pool2d, _spiking_pool_supports),
                        "batch_norm_neuron": Impl(batch_norm_neuron, _bn_neuron_supports)}
