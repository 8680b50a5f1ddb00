"""What a fused kernel needs to know about a neuron call: codes, scalar constants, support checks.

The fused CPU backend (:mod:`neuro.backends.fused`) and the Triton backend share this: each turns a
neuron's parameters ``NamedTuple`` into a :class:`KernelSpec` (integer codes for the reset rule and
the surrogate, and the scalar constants of the step), or says why it cannot (per-neuron tensors, an
unknown surrogate subclass, a parameter that needs a gradient the kernel does not compute ...), so
that :func:`neuro.backends.resolve` falls back to the reference.

Scalar constants that may carry a gradient (the decay factors ``1 - dt/tau``, the leak term
``alpha * v_leak``, input gains, thresholds) are kept as 0-dim tensors computed with the same Python or
torch operations as the reference step, so the fused kernels see bit-identical constants and autograd
chains their gradients back to the module's parameters (``tau_mem``, PLIF's ``w``, ``v_threshold``,
``v_leak``, ``r``, ...). ``v_reset`` and ALIF's ``beta_adapt`` must be plain numbers or 1-element
tensors that do not require grad.

Example:
    >>> from neuro.neurons.lif import LIFParameters
    >>> spec = lif_spec(LIFParameters(), torch.float32)
    >>> spec.reset, spec.surrogate, round(float(spec.scalars["decay"]), 3)
    (0, 0, 0.5)
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import torch
from torch import Tensor

from neuro.backends._buffers import empty_like
from neuro.core.reset import HardReset, NoReset, ResetRule, SubtractReset
from neuro.core.surrogate import ATan, Erf, FastSigmoid, Rectangular, Sigmoid, Surrogate, Triangle

__all__ = ["HALF", "LIF_SCALARS", "RESET_CODES", "KernelSpec", "SequenceLayout", "Unsupported", "alif_spec",
           "check_tensors", "compute_dtype", "cuba_spec", "if_spec", "incoming", "lif_scalars", "lif_spec",
           "run_sequence", "scalar_grads", "spec_for", "surrogate_code", "surrogate_constants"]

#: Reset rule class -> kernel code.
RESET_CODES: dict[type[ResetRule], int] = {HardReset: 0, SubtractReset: 1, NoReset: 2}


class Unsupported(Exception):
    """Raised while building a spec: the inputs need the reference backend (the message says why)."""


@dataclass(frozen=True)
class KernelSpec:
    """Static configuration plus scalar constants of one fused neuron call.

    ``scalars`` maps names to 0-dim tensors (in the input dtype, possibly requiring grad);
    ``consts`` maps names to Python floats that never need a gradient.
    """

    reset: int
    delayed: bool
    detach: bool
    surrogate: int
    sg_a: float
    sg_b: float
    scalars: dict[str, Tensor]
    consts: dict[str, float]


def surrogate_code(s: Surrogate) -> tuple[int, float, float]:
    """``(code, a, b)`` of a built-in surrogate; exact types only (a subclass may change the maths)."""
    kind = type(s)
    if kind is ATan:
        return 0, float(s.alpha), 0.0
    if kind is Sigmoid:
        return 1, float(s.alpha), 0.0
    if kind is FastSigmoid:
        return 2, float(s.slope), 0.0
    if kind is Triangle:
        return 3, float(s.width), 0.0
    if kind is Rectangular:
        return 4, float(s.width), float(s._h)
    if kind is Erf:
        return 5, float(s.alpha), 0.0
    raise Unsupported(f"surrogate {kind.__name__} has no fused kernel")


def _number(name: str, value: Any) -> float:
    """A constant that must not need a gradient, as a float."""
    if isinstance(value, Tensor):
        if value.numel() != 1:
            raise Unsupported(f"{name} is a per-neuron tensor of shape {tuple(value.shape)}")
        if value.requires_grad:
            raise Unsupported(f"{name} requires grad, which the fused kernel does not compute")
        return float(value.item())
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Unsupported(f"{name} must be a number, got {type(value).__name__}")
    return float(value)


def _check_scalar(name: str, value: Any) -> None:
    if isinstance(value, Tensor):
        if value.numel() != 1:
            raise Unsupported(f"{name} is a per-neuron tensor of shape {tuple(value.shape)}")
    elif isinstance(value, bool) or not isinstance(value, int | float):
        raise Unsupported(f"{name} must be a number or a 1-element tensor, got {type(value).__name__}")


def _as(value: Any, dtype: torch.dtype) -> Tensor:
    """A scalar computed exactly as the reference computes it (double for floats, the tensor's own dtype for
    tensors), as a 0-dim tensor of the input ``dtype`` that keeps its autograd graph."""
    if isinstance(value, Tensor):
        return value.reshape(()).to(dtype)
    return _constant(float(value), dtype)


@functools.lru_cache(maxsize=1024)
def _constant(value: float, dtype: torch.dtype) -> Tensor:
    """A shared 0-dim host tensor of a constant (specs are rebuilt every call; their constants are only read)."""
    return torch.tensor(value, dtype=dtype)


def _decay_form(dt: float, tau: Any, names: tuple[str, ...], dtype: torch.dtype) -> tuple[Any, Tensor]:
    """``(rate, 1 - rate)`` with ``rate = dt / tau``, the reference's ``(1.0 - dt / tau)`` factor."""
    _check_scalar(names[0], tau)
    rate = dt / tau if isinstance(tau, Tensor) else dt / float(tau)
    return rate, _as(1.0 - rate, dtype)


def _options(p: Any) -> dict[str, Any]:
    reset = p.reset
    if type(reset) not in RESET_CODES:
        raise Unsupported(f"reset rule {type(reset).__name__} has no fused kernel")
    code, a, b = surrogate_code(p.surrogate)
    return {"reset": RESET_CODES[type(reset)], "delayed": bool(reset.delayed), "detach": bool(p.detach_reset),
            "surrogate": code, "sg_a": a, "sg_b": b}


def _membrane(p: Any, dtype: torch.dtype) -> dict[str, Tensor]:
    """``h = decay * v + leak + gain * x`` with the reference's ``decay = 1 - alpha``, ``leak = alpha * v_leak``
    and ``gain = alpha * r`` (``decay_input``) or ``r``; plus the threshold."""
    alpha, decay = _decay_form(p.dt, p.tau_mem, ("tau_mem",), dtype)
    _check_scalar("v_leak", p.v_leak)
    _check_scalar("r", p.r)
    _check_scalar("v_threshold", p.v_threshold)
    return {"decay": decay, "leak": _as(alpha * p.v_leak, dtype),
            "gain": _as(alpha * p.r if p.decay_input else p.r, dtype), "v_threshold": _as(p.v_threshold, dtype)}


def lif_spec(p: Any, dtype: torch.dtype) -> KernelSpec:
    """Spec of :func:`~neuro.neurons.lif.lif_step` (LIF and PLIF)."""
    return KernelSpec(**_options(p), scalars=_membrane(p, dtype), consts={"v_reset": _number("v_reset", p.v_reset)})


def if_spec(p: Any, dtype: torch.dtype) -> KernelSpec:
    """Spec of :func:`~neuro.neurons.if_.if_step`: ``h = v + r x`` (no leak)."""
    _check_scalar("r", p.r)
    _check_scalar("v_threshold", p.v_threshold)
    scalars = {"decay": _as(1.0, dtype), "leak": _as(0.0, dtype), "gain": _as(p.r, dtype),
               "v_threshold": _as(p.v_threshold, dtype)}
    return KernelSpec(**_options(p), scalars=scalars,
                      consts={"v_reset": _number("v_reset", p.v_reset), "no_leak": 1.0})


def cuba_spec(p: Any, dtype: torch.dtype) -> KernelSpec:
    """Spec of :func:`~neuro.neurons.cuba_lif.cuba_lif_step`: a synaptic current in front of the LIF."""
    beta, syn_decay = _decay_form(p.dt, p.tau_syn, ("tau_syn",), dtype)
    _check_scalar("w_in", p.w_in)
    scalars = {**_membrane(p, dtype), "syn_decay": syn_decay,
               "gain_syn": _as(beta * p.w_in if p.decay_input else p.w_in, dtype)}
    return KernelSpec(**_options(p), scalars=scalars, consts={"v_reset": _number("v_reset", p.v_reset)})


def alif_spec(p: Any, dtype: torch.dtype) -> KernelSpec:
    """Spec of :func:`~neuro.neurons.alif.alif_step`."""
    opts = _options(p)
    if opts["delayed"]:
        raise Unsupported("ALIF has no delayed resets")
    _, adapt_decay = _decay_form(p.dt, p.tau_adapt, ("tau_adapt",), dtype)
    scalars = {**_membrane(p, dtype), "adapt_decay": adapt_decay}
    consts = {"v_reset": _number("v_reset", p.v_reset), "beta_adapt": _number("beta_adapt", p.beta_adapt)}
    return KernelSpec(**opts, scalars=scalars, consts=consts)


#: Storage dtypes that the Triton kernels load into float32, compute in float32 and store back (mixed precision).
HALF = (torch.float16, torch.bfloat16)


def compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """The dtype the Triton kernels compute in for inputs of ``dtype``: float32 for float16/bfloat16, else ``dtype``."""
    return torch.float32 if dtype in HALF else dtype


_LAST_SPEC: list[Any] = [None, None, None, None]  # make, params, dtype, spec
#: Specs of parameter tuples holding no tensor (numbers and frozen rules: equal by value), kept across calls.
_SPECS: dict[tuple[Any, Any, torch.dtype], KernelSpec] = {}
_SPECS_MAX = 256


def spec_for(make: Callable[[Any, torch.dtype], KernelSpec], params: Any, dtype: torch.dtype) -> KernelSpec:
    """``make(params, dtype)``, built once for a backend's ``supports`` check and its run on the same parameters.

    A parameter tuple without tensors (numbers, frozen reset rules and surrogates) is compared by value, so its
    spec is built once and reused by every later call with equal parameters. With tensors, only a spec without
    learnable scalars is reused (its scalars then carry no autograd graph of an earlier call), and only for the
    very same parameter tuple (held here, so its identity cannot be recycled).
    """
    last = _LAST_SPEC
    if last[0] is make and last[1] is params and last[2] == dtype:
        return last[3]
    key = (make, params, dtype)
    for v in params:
        if isinstance(v, Tensor):
            key = None
            break
    if key is not None:
        try:
            spec = _SPECS.get(key)
        except TypeError:  # an unhashable parameter: build it every call
            key, spec = None, None
        if spec is not None:
            return spec
    spec = make(params, dtype)
    if key is not None:
        if len(_SPECS) >= _SPECS_MAX:
            _SPECS.clear()
        _SPECS[key] = spec
    elif not any(isinstance(v, Tensor) and v.requires_grad for v in spec.scalars.values()):
        _LAST_SPEC[:] = [make, params, dtype, spec]
    return spec


def check_tensors(x: Tensor, state: NamedTuple, device_type: str,
                  dtypes: tuple[torch.dtype, ...] = (torch.float32, torch.float64)) -> None:
    """Raise :class:`Unsupported` unless ``x`` and every state field suit a kernel on ``device_type``."""
    device = x.device
    if device.type != device_type:
        raise Unsupported(f"input is on {device}, the kernel runs on {device_type}")
    dtype = x.dtype
    if dtype not in dtypes:
        raise Unsupported(f"dtype {dtype} has no fused kernel")
    shape = x.shape
    if len(shape) < 2 or x.numel() == 0:
        raise Unsupported(f"empty or non-sequence input of shape {tuple(shape)}")
    step = shape[1:]
    for name, value in zip(state._fields, state, strict=True):
        if not isinstance(value, Tensor) or value.dtype != dtype or value.device != device:
            raise Unsupported(f"state.{name} must be a {dtype} tensor on {device}")
        if value.shape != step:
            raise Unsupported(f"state.{name} has shape {tuple(value.shape)}, expected {tuple(step)}")


#: The scalar constants of the LIF-family kernels, in kernel order.
LIF_SCALARS = ("decay", "leak", "gain", "v_threshold", "syn_decay", "gain_syn")


def lif_scalars(spec: KernelSpec, like: Tensor) -> tuple[Tensor, ...]:
    """The scalar leaves of ``spec`` in :data:`LIF_SCALARS` order (zeros, of ``like``'s dtype, for the ones this
    neuron does not have). Those that need a gradient are moved to ``like``'s device; constants stay where they
    are (host numbers, read by the kernels' glue without a device round trip)."""
    zero = _constant(0.0, like.dtype)
    return tuple(s.to(like.device) if s.requires_grad else s
                 for s in (spec.scalars.get(k, zero) for k in LIF_SCALARS))


def incoming(g: Tensor | None, like: Tensor) -> Tensor:
    """An output's incoming gradient as a contiguous tensor; zeros (shaped as ``like``) for ``None``, an output
    that did not reach the loss."""
    return empty_like(like).zero_() if g is None else g.contiguous()


def scalar_grads(sums: Any, need: tuple[bool, ...], dtype: torch.dtype) -> tuple[Tensor | None, ...]:
    """The gradients of a kernel's scalar constants from its sums (numpy or torch, one per constant): a 0-dim
    tensor where ``need`` asks for it (on the sums' device), ``None`` elsewhere."""
    return tuple(torch.as_tensor(sums[k], dtype=dtype) if wanted else None for k, wanted in enumerate(need))


def surrogate_constants(kind: int, a: float, b: float) -> tuple[float, float]:
    """The two constants of the kernels' surrogate derivatives (numba's and Triton's), computed in double as
    the reference computes them (the kernels cast them to the input dtype, like torch casts a Python scalar)."""
    if kind == 0:  # ATan: (a/2) / (1 + (pi/2 a z)^2)
        return math.pi / 2 * a, a / 2
    if kind == 4:  # Rectangular: height * [|z| < width/2]
        return a / 2, b
    if kind == 5:  # Erf: a/sqrt(pi) exp(-(a z)^2)
        return a, a / math.sqrt(math.pi)
    return a, 0.0  # Sigmoid alpha, FastSigmoid slope, Triangle width


class SequenceLayout(NamedTuple):
    """How a ``(T, B, ...)`` tensor lies in memory, so kernels on ``(T, N)`` need no copy of it.

    ``perm`` orders the dimensions from the outermost in memory to the innermost, time first: a
    channels-last convolution output ``(T, B, C, H, W)`` has ``perm = (0, 1, 3, 4, 2)``. :meth:`flat`
    views a tensor of this layout as ``(T, N)`` in memory order and :meth:`unflat` gives a kernel's
    ``(T, N)`` result back in the same layout, so the neuron keeps the memory format of its input
    (a copy is made only when the input is not dense, or time is not its outermost dimension).
    """

    shape: torch.Size
    perm: tuple[int, ...]

    @classmethod
    def of(cls, x: Tensor) -> SequenceLayout:
        if x.is_contiguous():
            return cls(x.shape, tuple(range(x.dim())))
        rest = sorted(range(1, x.dim()), key=lambda d: (-x.stride(d) if x.shape[d] > 1 else 0, d))
        perm = (0, *rest)
        if not x.permute(perm).is_contiguous():
            perm = tuple(range(x.dim()))
        return cls(x.shape, perm)

    def flat(self, x: Tensor) -> Tensor:
        """``(T, N)`` contiguous, in this layout's memory order (``x`` is ``(T, B, ...)``)."""
        if self._plain:
            return x.reshape(x.shape[0], -1).contiguous()
        return x.permute(self.perm).reshape(x.shape[0], -1).contiguous()

    @property
    def _plain(self) -> bool:
        return all(d == k for k, d in enumerate(self.perm))

    def flat_state(self, v: Tensor) -> Tensor:
        """``(N,)`` contiguous, in this layout's memory order (``v`` is ``(B, ...)``)."""
        if self._plain:
            return v.reshape(-1).contiguous()
        return v.permute([d - 1 for d in self.perm[1:]]).reshape(-1).contiguous()

    def _back(self, y: Tensor, lead: tuple[int, ...]) -> Tensor:
        if self._plain:
            return y.reshape(*lead, *self.shape[1:])
        dims = self.perm if lead else [d - 1 for d in self.perm[1:]]
        y = y.reshape(*lead, *(self.shape[d] for d in self.perm[1:]))
        inverse = sorted(range(len(dims)), key=lambda i: dims[i])
        return y.permute(inverse)

    def unflat(self, y: Tensor) -> Tensor:
        """A kernel's ``(T, N)`` result as ``(T, B, ...)`` in this layout."""
        return self._back(y, (y.shape[0],))

    def unflat_state(self, y: Tensor) -> Tensor:
        """A kernel's ``(N,)`` result as ``(B, ...)`` in this layout."""
        return self._back(y, ())


def run_sequence(apply: Callable[..., tuple[Tensor, ...]], spec: KernelSpec, x: Tensor, state: NamedTuple,
                 record: bool, scalars: tuple[Tensor, ...]) -> tuple[Tensor, NamedTuple, NamedTuple | None]:
    """Run a LIF-family sequence function over ``x`` ``(T, B, ...)``: the layout glue every backend shares.

    ``apply(spec, record, x2, v0, i0, *scalars)`` works on ``(T, N)`` and returns
    ``(spikes, v_T, i_T, v_seq, i_seq)`` (``i0`` is ``None`` for a neuron without synaptic current); this
    flattens the input and state in the input's memory order (:class:`SequenceLayout`), and gives back the
    spikes ``(T, B, ...)`` in the input's layout, the final state and, when ``record``, the per-step states.
    """
    layout = SequenceLayout.of(x)
    v0 = layout.flat_state(state.v)
    cuba = "syn_decay" in spec.scalars
    i0 = layout.flat_state(state.i) if cuba else None  # no synaptic current: each backend makes what it needs
    out, v_out, i_out, v_seq, i_seq = apply(spec, record, layout.flat(x), v0, i0, *scalars)
    fields = (layout.unflat_state(v_out),) + ((layout.unflat_state(i_out),) if cuba else ())
    seqs = None
    if record:
        seqs = type(state)(*((layout.unflat(v_seq),) + ((layout.unflat(i_seq),) if cuba else ())))
    return layout.unflat(out), type(state)(*fields), seqs
