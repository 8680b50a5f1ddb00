r"""Neuron parameters between neuro's discrete-time SI form and NIR's continuous-time nodes.

NIR's LIF is :math:`\tau\,\dot v = (v_{leak} - v) + R\,I`. One forward-Euler step of length
``dt`` gives :math:`v_t = v_{t-1} + \frac{dt}{\tau}(v_{leak} - v_{t-1}) + \frac{dt}{\tau} R\, x_t`,
which is neuro's LIF step with input gain :math:`g = \frac{dt}{\tau} r`. So:

==========================  ============  ==================================================================
neuro                       NIR node      conversion (all other parameters: same name, same value)
==========================  ============  ==================================================================
LIF, PLIF, decay_input      ``LIF``       ``tau = tau_mem``, ``r = r``
LIF, PLIF, not decay_input  ``LIF``       ``tau = tau_mem``, ``r = r * tau_mem / dt``  (gain ``r`` per step)
LI                          ``LI``        as LIF
IF                          ``IF``        ``r = r / dt``  (:math:`\dot v = R I`; neuro's ``r`` is per step)
CubaLIF                     ``CubaLIF``   as LIF for ``r`` (with ``tau_mem``); ``w_in = w_in`` or, when not
                                          decay_input, ``w_in * tau_syn / dt``
==========================  ============  ==================================================================

NIR resets to ``v_reset`` immediately after a spike, so only ``HardReset()`` (not delayed) exports.
NIR is continuous in time and has no ``dt``: every exported neuron node carries
``metadata["dt"]`` (seconds) and ``metadata["neuro"]`` (``decay_input``, surrogate, learnable flags,
and each parameter's storage ``layout``: ``"float"`` or a tensor shape such as ``"(12, 1, 1)"``), so
that a neuro -> NIR -> neuro round trip rebuilds the same modules; scalars whose NIR value is derived
(``r * tau / dt`` ...) are also kept in ``metadata["neuro"]["native"]`` and used when they still
reproduce the graph's values. Parameters are written as float64 arrays of the layer's shape; scalar
conversions are done in exact rational arithmetic (:class:`fractions.Fraction`) and tensor ones in
float64, so parameters come back bit-identical. Non-uniform parameters of foreign graphs become
tensors of torch's default dtype.

Example:
    >>> from neuro import LIF
    >>> node = export_lif(LIF(tau_mem=2e-3, decay_input=False, dt=1e-3), (3,))
    >>> node.tau.tolist(), node.r.tolist()       # gain r = 1 per step is R = tau / dt = 2
    ([0.002, 0.002, 0.002], [2.0, 2.0, 2.0])
    >>> import_lif(node, NodeContext(dt=1e-3)).r
    1.0
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from fractions import Fraction
from typing import Any, NamedTuple

import nir
import numpy as np
import torch
from torch import Tensor, nn

from neuro.core.reset import HardReset
from neuro.core.surrogate import Surrogate, resolve_surrogate
from neuro.interop.nir.errors import Unsupported
from neuro.neurons import (
    IF,
    LI,
    LIF,
    PLIF,
    CubaLIF,
    CubaLIFCell,
    IFCell,
    LICell,
    LIFCell,
    PLIFCell,
)

__all__ = ["NodeContext", "export_cuba_lif", "export_if", "export_li", "export_lif", "from_array", "import_cuba_lif",
           "import_if", "import_li", "import_lif", "layout", "plain", "surrogate_table", "to_array"]


class NodeContext(NamedTuple):
    """What an importer needs besides the node: the time step and whether to build single-step cells."""

    dt: float
    step: bool = False


# -- arrays and layouts -----------------------------------------------------------------------
def layout(value: Tensor | float) -> str:
    """How a parameter is stored in neuro: ``"float"`` or the tensor shape, e.g. ``"(12, 1, 1)"``."""
    return "float" if not isinstance(value, Tensor) else str(tuple(value.shape))


def _parse_layout(text: str) -> tuple[int, ...] | None:
    if text == "float":
        return None
    inner = text.strip().removeprefix("(").removesuffix(")")
    return tuple(int(p) for p in inner.split(",") if p.strip())


def to_array(value: Tensor | float, shape: tuple[int, ...]) -> np.ndarray:
    """``value`` as a float64 array broadcast to the layer's per-sample ``shape``."""
    if isinstance(value, Tensor):
        arr = value.detach().cpu().to(torch.float64).numpy()
        while arr.ndim > len(shape) and arr.shape[0] == 1:  # e.g. a (1, C, 1, 1) per-channel tensor
            arr = arr[0]
    else:
        arr = np.asarray(float(value), dtype=np.float64)
    try:
        return np.broadcast_to(arr, shape).copy()
    except ValueError:
        raise Unsupported(f"parameter of shape {arr.shape} does not broadcast to the layer shape {shape}") from None


def _unbroadcast(arr: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Invert :func:`to_array`: the ``shape``-sized corner of a broadcast array."""
    while arr.ndim > len(shape):
        arr = arr[0]
    index = tuple(slice(0, 1) if s == 1 else slice(None) for s in (1,) * (arr.ndim - len(shape)) + shape)
    out = arr[index]
    return out.reshape(shape)


def _uniform(arr: np.ndarray) -> bool:
    flat = np.asarray(arr).reshape(-1)
    return flat.size > 0 and bool(np.all(flat == flat[0]))


def from_array(arr: Any, stored: str | None = None) -> Tensor | float:
    """A NIR parameter array as neuro stores it: per ``stored`` layout, else a float when uniform."""
    arr = np.asarray(arr, dtype=np.float64)
    if stored is None:
        stored = "float" if _uniform(arr) else str(tuple(arr.shape))
    shape = _parse_layout(stored)
    if shape is None:
        if not _uniform(arr):
            raise Unsupported(f"parameter marked as a scalar holds {arr.size} different values")
        return float(arr.reshape(-1)[0])
    return torch.as_tensor(_unbroadcast(arr, shape), dtype=torch.get_default_dtype())


def _scale(value: Tensor | float, num: Tensor | float, den: float) -> Tensor | float:
    """``value * num / den``: exactly rounded for scalars, float64 for tensors."""
    if not isinstance(value, Tensor) and not isinstance(num, Tensor):
        return float(Fraction(value) * Fraction(num) / Fraction(den))
    if not isinstance(value, Tensor):  # a scalar stored as float: exact per element, so it inverts exactly
        n = num.detach().cpu().to(torch.float64)
        exact = [float(Fraction(value) * Fraction(float(e)) / Fraction(den)) for e in n.reshape(-1).tolist()]
        return torch.tensor(exact, dtype=torch.float64).reshape(n.shape)
    v = torch.as_tensor(value, dtype=torch.float64).detach()
    n = torch.as_tensor(num, dtype=torch.float64).detach()
    return v * n / den


def _unscale(arr: np.ndarray, num: float, den: np.ndarray, stored: str | None, native: float | None = None
             ) -> Tensor | float:
    """Invert :func:`_scale` on NIR arrays: ``arr * num / den`` in neuro's ``stored`` layout.

    ``native`` is the scalar neuro exported (``metadata["neuro"]["native"]``); it is used when it
    still reproduces ``arr``, since a float64 product cannot always be inverted to the last bit.
    """
    arr, den = np.asarray(arr, dtype=np.float64), np.broadcast_to(np.asarray(den, dtype=np.float64), np.shape(arr))
    if stored == "float" and native is not None and np.allclose(arr, native * den / num, rtol=1e-15, atol=0):
        return float(native)
    scalar = stored == "float" or (stored is None and _uniform(arr) and _uniform(den))
    if scalar:
        return float(Fraction(float(arr.reshape(-1)[0])) * Fraction(num) / Fraction(float(den.reshape(-1)[0])))
    return from_array(arr * num / den, stored)


# -- metadata ---------------------------------------------------------------------------------
def plain(value: Any) -> Any:
    """Metadata read back from HDF5 as plain Python (numpy scalars -> numbers, bytes -> str)."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, bytes):
        return value.decode("utf8")
    if (isinstance(value, np.ndarray) and value.ndim == 0) or isinstance(value, np.generic):
        return value.item()
    return value


def surrogate_table(s: Surrogate) -> dict[str, Any]:
    fields = {f.name: getattr(s, f.name) for f in dataclasses.fields(s)}
    return {"name": s.name, **{k: float(v) for k, v in fields.items() if v is not None}}


def _metadata(module: nn.Module, neuron: str, names: tuple[str, ...], **extra: Any) -> dict[str, Any]:
    neuro_meta: dict[str, Any] = {"neuron": neuron, "detach_reset": bool(getattr(module, "detach_reset", False)),
                                  "layout": {n: layout(getattr(module, n)) for n in names if hasattr(module, n)}}
    if hasattr(module, "decay_input"):
        neuro_meta["decay_input"] = bool(module.decay_input)
    if hasattr(module, "surrogate"):
        neuro_meta["surrogate"] = surrogate_table(module.surrogate)
    neuro_meta["learn_tau"] = any(isinstance(getattr(module, n, None), nn.Parameter) for n in ("tau_mem", "tau_syn"))
    neuro_meta["learn_threshold"] = isinstance(getattr(module, "v_threshold", None), nn.Parameter)
    neuro_meta.update(extra)
    return {"dt": float(module.dt), "neuro": neuro_meta}


def _native(**values: Tensor | float) -> dict[str, Any]:
    """Scalars whose NIR value is derived (``r * tau / dt`` ...), kept to invert it to the last bit."""
    return {"native": {k: float(v) for k, v in values.items() if not isinstance(v, Tensor)}}


def _neuro_meta(node: nir.NIRNode) -> dict[str, Any]:
    meta = plain(getattr(node, "metadata", None) or {})
    return meta.get("neuro", {}) if isinstance(meta.get("neuro"), Mapping) else {}


def _options(meta: Mapping[str, Any], spiking: bool = True) -> dict[str, Any]:
    opts: dict[str, Any] = {}
    if spiking:
        opts["reset"] = "hard"
        opts["detach_reset"] = bool(meta.get("detach_reset", False))
        surrogate = meta.get("surrogate")
        opts["surrogate"] = resolve_surrogate(dict(surrogate)) if isinstance(surrogate, Mapping) else "atan"
        opts["learn_threshold"] = bool(meta.get("learn_threshold", False))
    opts["learn_tau"] = bool(meta.get("learn_tau", False))
    return opts


def _require_hard_reset(module: nn.Module) -> None:
    rule = module.reset
    if not isinstance(rule, HardReset) or rule.delayed:
        raise Unsupported(f"NIR resets the membrane to v_reset immediately after a spike; {rule!r} cannot be "
                          "expressed", "use reset='hard' (not delayed) and fine-tune")


def _positive(node: nir.NIRNode, **arrays: Any) -> None:
    for name, arr in arrays.items():
        if not np.all(np.asarray(arr) > 0):
            raise Unsupported(f"{type(node).__name__}.{name} must be > 0 seconds everywhere")


_LIF_NAMES = ("tau_mem", "v_threshold", "v_reset", "v_leak", "r")


# -- LIF / PLIF ---------------------------------------------------------------------------------
def export_lif(module: nn.Module, shape: tuple[int, ...]) -> nir.LIF:
    """``LIF``/``LIFCell``/``PLIF``/``PLIFCell`` -> ``nir.LIF``."""
    _require_hard_reset(module)
    p = module.params()
    r = p.r if p.decay_input else _scale(p.r, p.tau_mem, p.dt)
    native = {} if p.decay_input else _native(r=p.r)
    if isinstance(module, PLIF | PLIFCell):
        meta = _metadata(module, "plif", _LIF_NAMES[1:], w=float(module.w.detach()), init_tau_mem=module.init_tau_mem,
                         **native)
    else:
        meta = _metadata(module, "lif", _LIF_NAMES, **native)
    return nir.LIF(tau=to_array(p.tau_mem, shape), r=to_array(r, shape), v_leak=to_array(p.v_leak, shape),
                   v_threshold=to_array(p.v_threshold, shape), v_reset=to_array(p.v_reset, shape), metadata=meta)


def import_lif(node: nir.LIF, ctx: NodeContext) -> nn.Module:
    """``nir.LIF`` -> ``LIF`` (or ``LIFCell``; ``PLIF`` when neuro wrote it)."""
    _positive(node, tau=node.tau)
    meta = _neuro_meta(node)
    lay = meta.get("layout", {})
    decay_input = bool(meta.get("decay_input", True))
    r = from_array(node.r, lay.get("r")) if decay_input else _unscale(node.r, ctx.dt, node.tau, lay.get("r"),
                                                                       meta.get("native", {}).get("r"))
    kwargs = dict(v_threshold=from_array(node.v_threshold, lay.get("v_threshold")),
                  v_reset=from_array(node.v_reset, lay.get("v_reset")),
                  v_leak=from_array(node.v_leak, lay.get("v_leak")), r=r, dt=ctx.dt, decay_input=decay_input,
                  **_options(meta))
    same_dt = plain(node.metadata or {}).get("dt") == ctx.dt  # PLIF's w encodes dt / tau_mem
    if meta.get("neuron") == "plif" and "w" in meta and same_dt:
        kwargs.pop("learn_tau")
        module = (PLIFCell if ctx.step else PLIF)(init_tau_mem=float(meta["init_tau_mem"]), **kwargs)
        with torch.no_grad():
            module.w.fill_(float(meta["w"]))
        return module
    return (LIFCell if ctx.step else LIF)(tau_mem=from_array(node.tau, lay.get("tau_mem")), **kwargs)


# -- LI -------------------------------------------------------------------------------------------
def export_li(module: nn.Module, shape: tuple[int, ...]) -> nir.LI:
    """``LI``/``LICell`` -> ``nir.LI``."""
    p = module.params()
    r = p.r if p.decay_input else _scale(p.r, p.tau_mem, p.dt)
    meta = _metadata(module, "li", ("tau_mem", "v_leak", "r"), **({} if p.decay_input else _native(r=p.r)))
    return nir.LI(tau=to_array(p.tau_mem, shape), r=to_array(r, shape), v_leak=to_array(p.v_leak, shape),
                  metadata=meta)


def import_li(node: nir.LI, ctx: NodeContext) -> nn.Module:
    """``nir.LI`` -> ``LI`` (or ``LICell``)."""
    _positive(node, tau=node.tau)
    meta = _neuro_meta(node)
    lay = meta.get("layout", {})
    decay_input = bool(meta.get("decay_input", True))
    r = from_array(node.r, lay.get("r")) if decay_input else _unscale(node.r, ctx.dt, node.tau, lay.get("r"),
                                                                       meta.get("native", {}).get("r"))
    return (LICell if ctx.step else LI)(tau_mem=from_array(node.tau, lay.get("tau_mem")),
                                        v_leak=from_array(node.v_leak, lay.get("v_leak")), r=r, dt=ctx.dt,
                                        decay_input=decay_input, **_options(meta, spiking=False))


# -- IF -------------------------------------------------------------------------------------------
def export_if(module: nn.Module, shape: tuple[int, ...]) -> nir.IF:
    """``IF``/``IFCell`` -> ``nir.IF`` with ``R = r / dt``."""
    _require_hard_reset(module)
    p = module.params()
    return nir.IF(r=to_array(_scale(p.r, 1.0, p.dt), shape), v_threshold=to_array(p.v_threshold, shape),
                  v_reset=to_array(p.v_reset, shape),
                  metadata=_metadata(module, "if", ("v_threshold", "v_reset", "r"), **_native(r=p.r)))


def import_if(node: nir.IF, ctx: NodeContext) -> nn.Module:
    """``nir.IF`` -> ``IF`` (or ``IFCell``) with per-step gain ``r = R * dt``."""
    meta = _neuro_meta(node)
    lay = meta.get("layout", {})
    opts = _options(meta)
    opts.pop("learn_tau")
    return (IFCell if ctx.step else IF)(v_threshold=from_array(node.v_threshold, lay.get("v_threshold")),
                                        v_reset=from_array(node.v_reset, lay.get("v_reset")),
                                        r=_unscale(node.r, ctx.dt, np.ones_like(node.r), lay.get("r"),
                                                  meta.get("native", {}).get("r")), dt=ctx.dt,
                                        **opts)


# -- CubaLIF --------------------------------------------------------------------------------------
def export_cuba_lif(module: nn.Module, shape: tuple[int, ...]) -> nir.CubaLIF:
    """``CubaLIF``/``CubaLIFCell`` -> ``nir.CubaLIF``."""
    _require_hard_reset(module)
    p = module.params()
    r = p.r if p.decay_input else _scale(p.r, p.tau_mem, p.dt)
    w_in = p.w_in if p.decay_input else _scale(p.w_in, p.tau_syn, p.dt)
    native = {} if p.decay_input else _native(r=p.r, w_in=p.w_in)
    meta = _metadata(module, "cuba_lif", ("tau_syn", *_LIF_NAMES, "w_in"), **native)
    return nir.CubaLIF(tau_syn=to_array(p.tau_syn, shape), tau_mem=to_array(p.tau_mem, shape), r=to_array(r, shape),
                       v_leak=to_array(p.v_leak, shape), v_threshold=to_array(p.v_threshold, shape),
                       v_reset=to_array(p.v_reset, shape), w_in=to_array(w_in, shape), metadata=meta)


def import_cuba_lif(node: nir.CubaLIF, ctx: NodeContext) -> nn.Module:
    """``nir.CubaLIF`` -> ``CubaLIF`` (or ``CubaLIFCell``)."""
    _positive(node, tau_syn=node.tau_syn, tau_mem=node.tau_mem)
    meta = _neuro_meta(node)
    lay = meta.get("layout", {})
    decay_input = bool(meta.get("decay_input", True))
    if decay_input:
        r, w_in = from_array(node.r, lay.get("r")), from_array(node.w_in, lay.get("w_in"))
    else:
        native = meta.get("native", {})
        r = _unscale(node.r, ctx.dt, node.tau_mem, lay.get("r"), native.get("r"))
        w_in = _unscale(node.w_in, ctx.dt, node.tau_syn, lay.get("w_in"), native.get("w_in"))
    return (CubaLIFCell if ctx.step else CubaLIF)(
        tau_syn=from_array(node.tau_syn, lay.get("tau_syn")), tau_mem=from_array(node.tau_mem, lay.get("tau_mem")),
        v_threshold=from_array(node.v_threshold, lay.get("v_threshold")),
        v_reset=from_array(node.v_reset, lay.get("v_reset")), v_leak=from_array(node.v_leak, lay.get("v_leak")),
        r=r, w_in=w_in, dt=ctx.dt, decay_input=decay_input, **_options(meta))
