r"""The benchmark neuron in every implementation, configured to the same maths.

All of W1-W4 use :math:`h_t = 0.5\,v_{t-1} + x_t`, :math:`s_t = \Theta(h_t - 1)` (fires on ``>=``),
hard reset to 0 with the reset detached from the graph, ATan surrogate (``alpha = 2``). Each peer's
defaults differ, so each is configured explicitly:

* **snnTorch** ``Leaky(beta=0.5, reset_mechanism="zero")``: its default delayed reset gives the same
  spikes and the same detached-reset gradient (the stored state is the pre-reset membrane); its
  ``atan`` fires on ``>``, so it gets :func:`snntorch_atan_ge`, snnTorch's ATan backward with ``>=``.
* **SpikingJelly** ``LIFNode(tau=2, decay_input=False, v_reset=0, detach_reset=True,
  surrogate=ATan())``, multi-step (its own CPU operator) or single-step for recurrent loops.
* **Norse** ``LIFBoxCell``: ``v + dt/tau (v_leak - v + i)`` with ``dt/tau = 0.5``, so it is fed
  ``2x`` (weights doubled: exact in binary floating point); its reset is made detached through its
  ``reset_method`` hook. Norse has no ATan surrogate (``"super"``, its default, is used) and fires
  on ``>``: same spikes, a different surrogate gradient.
* **torch**: the step written out in plain torch, looping over ``x.unbind(0)``.
* **neuro**: :class:`neuro.LIF` on the automatic backend (the fused kernels on CPU).

:func:`neuron` returns ``fn(x) -> spikes`` over a time-major ``(T, ...)`` current, :func:`cell` a
single-step ``(step, initial_state)`` pair; :func:`input_scale` says by how much that
implementation's input must be multiplied (2 for Norse).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

__all__ = ["IMPLEMENTATIONS", "PEERS", "available", "cell", "input_scale", "neuron", "neuron_module",
           "snntorch_atan_ge", "versions"]

#: Every implementation the harness knows; the peers are the libraries compared against.
IMPLEMENTATIONS = ("neuro", "snntorch", "spikingjelly", "norse", "torch")
PEERS = ("snntorch", "spikingjelly", "norse")
_MODULES = {"snntorch": "snntorch", "spikingjelly": "spikingjelly", "norse": "norse"}


def available() -> list[str]:
    """Implementations whose library is importable here."""
    return [name for name in IMPLEMENTATIONS if name not in _MODULES or importlib.util.find_spec(_MODULES[name])]


def versions() -> dict[str, str]:
    """Library versions of the available implementations."""
    from importlib.metadata import PackageNotFoundError, version

    out = {"torch": torch.__version__}
    for name in available():
        if name in _MODULES:
            try:
                out[name] = version(_MODULES[name])
            except PackageNotFoundError:
                out[name] = "unknown"
    try:
        out["neuro"] = version("neuro")
    except PackageNotFoundError:
        from neuro import __version__

        out["neuro"] = __version__
    return out


def input_scale(impl: str) -> float:
    return 2.0 if impl == "norse" else 1.0


class _ATanGE(torch.autograd.Function):
    """snnTorch's ``ATan`` (``snntorch/surrogate.py``) with the spike on ``>=`` instead of ``>``."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, alpha: float) -> Tensor:
        ctx.save_for_backward(x)
        ctx.alpha = alpha
        return (x >= 0).to(x.dtype)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None]:
        (x,) = ctx.saved_tensors
        return ctx.alpha / 2 / (1 + (torch.pi / 2 * ctx.alpha * x).pow_(2)) * grad, None


def snntorch_atan_ge(alpha: float = 2.0) -> Callable[[Tensor], Tensor]:
    """A ``spike_grad`` for snnTorch neurons: ATan surrogate, spike where ``mem - threshold >= 0``."""
    return lambda x: _ATanGE.apply(x, alpha)


def _loop(cell: Callable[[Tensor, Any], tuple[Tensor, Any]], x: Tensor, state: Any) -> Tensor:
    out = []
    for xt in x.unbind(0):  # unbind, not x[t]: indexing a grad tensor per step makes backward O(T^2)
        s, state = cell(xt, state)
        out.append(s)
    return torch.stack(out)


Cell = tuple[Callable[[Tensor, Any], tuple[Tensor, Any]], Callable[[Tensor], Any]]


def cell(impl: str) -> Cell:
    """``(step, initial_state)`` of the W1-W4 neuron in ``impl`` for one time step at a time (not neuro:
    neuro's recurrent layer is :class:`~neuro.layers.RecurrentLIF`)."""
    if impl == "torch":
        from neuro.core.surrogate import ATan

        spike = ATan()

        def step(xt: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
            h = 0.5 * v + xt
            s = spike(h - 1.0)
            return s, h * (1.0 - s.detach())

        return step, torch.zeros_like
    if impl == "snntorch":
        import snntorch

        leaky = snntorch.Leaky(beta=0.5, threshold=1.0, reset_mechanism="zero", spike_grad=snntorch_atan_ge())
        return leaky, torch.zeros_like
    if impl == "spikingjelly":
        from spikingjelly.activation_based import neuron as sj_neuron
        from spikingjelly.activation_based import surrogate as sj_surrogate

        node = sj_neuron.LIFNode(tau=2.0, decay_input=False, v_threshold=1.0, v_reset=0.0,
                                 surrogate_function=sj_surrogate.ATan(alpha=2.0), detach_reset=True, step_mode="s")

        def init(x0: Tensor) -> None:
            node.reset()

        return (lambda xt, _: (node(xt), None)), init
    if impl == "norse":
        from norse.torch import LIFBoxCell, LIFBoxParameters

        def detached_reset(z: Tensor, v: Tensor, reset: Tensor, th: Tensor) -> Tensor:
            z = z.detach()
            return (1 - z) * v + z * reset

        p = LIFBoxParameters(tau_mem_inv=torch.as_tensor(500.0), v_leak=torch.as_tensor(0.0),
                             v_th=torch.as_tensor(1.0), v_reset=torch.as_tensor(0.0), reset_method=detached_reset)
        return LIFBoxCell(p, dt=1e-3), lambda x0: None
    raise ValueError(f"no single-step benchmark cell for {impl!r}")


def neuron_module(impl: str) -> nn.Module:
    """neuro's W1-W4 neuron as a module (for :class:`~neuro.layers.SpikingLinear`)."""
    if impl != "neuro":
        raise ValueError("only neuro's neuron is a module here")
    from neuro import LIF

    return LIF(tau_mem=2e-3, dt=1e-3, decay_input=False, reset="hard", detach_reset=True, surrogate="atan")


def neuron(impl: str, *, tau: float = 2.0, decay_input: bool = False, surrogate: str = "atan",
           threshold: float = 1.0) -> Callable[[Tensor], Tensor]:
    """``fn(x) -> spikes`` of the benchmark neuron in ``impl`` over a ``(T, ...)`` current.

    ``tau=2, decay_input=True, surrogate="sigmoid"`` selects W5's node (the spike-driven transformer
    papers' ``MultiStepLIFNode(tau=2.0, detach_reset=True)``) for neuro, SpikingJelly and torch.
    """
    w1_node = tau == 2.0 and not decay_input and surrogate == "atan" and threshold == 1.0
    if impl == "neuro":
        from neuro import LIF

        lif = LIF(tau_mem=tau * 1e-3, dt=1e-3, decay_input=decay_input, reset="hard", detach_reset=True,
                  surrogate=surrogate, v_threshold=threshold)
        return lambda x: lif(x)[0]
    if impl == "spikingjelly":
        from spikingjelly.activation_based import neuron as sj_neuron
        from spikingjelly.activation_based import surrogate as sj_surrogate

        sg = sj_surrogate.ATan(alpha=2.0) if surrogate == "atan" else sj_surrogate.Sigmoid(alpha=4.0)
        node = sj_neuron.LIFNode(tau=float(tau), decay_input=decay_input, v_threshold=float(threshold), v_reset=0.0,
                                 surrogate_function=sg, detach_reset=True, step_mode="m")

        def run(x: Tensor) -> Tensor:
            node.reset()
            return node(x)

        return run
    if impl == "torch" and not w1_node:
        from neuro.core.surrogate import resolve_surrogate

        spike = resolve_surrogate(surrogate)

        def step(xt: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
            h = (1.0 - 1.0 / tau) * v + (xt / tau if decay_input else xt)
            s = spike(h - threshold)
            return s, h * (1.0 - s.detach())

        return lambda x: _loop(step, x, torch.zeros_like(x[0]))
    if not w1_node:
        raise ValueError(f"{impl} has no benchmark node with tau={tau}, decay_input={decay_input}, "
                         f"surrogate={surrogate}, threshold={threshold}")
    step, init = cell(impl)
    return lambda x: _loop(step, x, init(x[0]))
