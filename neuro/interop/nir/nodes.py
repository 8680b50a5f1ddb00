"""The two type -> function tables of the NIR exchange, and the converters of the non-neuron layers.

* :data:`EXPORTERS`: module type -> ``fn(module, shape) -> nir node``, where ``shape`` is the
  per-sample shape of the module's input (no time or batch dimension).
* :data:`IMPORTERS`: NIR node type -> ``fn(node, ctx) -> module``; ``ctx`` is a
  :class:`~neuro.interop.nir.params.NodeContext` (time step, single-step or sequence modules).
  :data:`NEEDS_DT` lists the node types whose conversion needs the time step.
* :data:`KNOWN_UNSUPPORTED`: module types NIR cannot represent, with the reason and the fix.

Tests enumerate these tables, so a new node type is one converter pair plus one line in each.
Neuron conversions live in :mod:`neuro.interop.nir.params`.

Example:
    >>> import torch
    >>> node = EXPORTERS[torch.nn.Linear](torch.nn.Linear(3, 2), (3,))
    >>> type(node).__name__, node.weight.shape
    ('Affine', (2, 3))
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import nir
import numpy as np
import torch
from torch import nn

from neuro.interop.nir.errors import Unsupported
from neuro.interop.nir.layers import Delay, DelayCell, Scale, Threshold
from neuro.interop.nir.params import (
    NodeContext,
    export_cuba_lif,
    export_if,
    export_li,
    export_lif,
    from_array,
    import_cuba_lif,
    import_if,
    import_li,
    import_lif,
    layout,
    plain,
    surrogate_table,
    to_array,
)
from neuro.layers.event_conv import EventConv2d
from neuro.layers.event_linear import EventLinear
from neuro.neurons import (
    ALIF,
    IF,
    LI,
    LIF,
    PLIF,
    ALIFCell,
    CubaLIF,
    CubaLIFCell,
    IFCell,
    Izhikevich,
    IzhikevichCell,
    LICell,
    LIFCell,
    PLIFCell,
)

__all__ = ["EXPORTERS", "IMPORTERS", "KNOWN_UNSUPPORTED", "NEEDS_DT", "SKIPPED"]


def _numpy(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().numpy().copy()


def _ints(value: Any) -> Any:
    """A NIR integer field (int, tuple or array as read back from HDF5) as an int or tuple of ints."""
    if isinstance(value, str | bytes):
        return plain(value)
    arr = np.asarray(value).astype(np.int64)
    return int(arr) if arr.ndim == 0 else tuple(int(v) for v in arr.reshape(-1))


def _weight(arr: np.ndarray) -> torch.Tensor:
    return torch.as_tensor(np.asarray(arr), dtype=torch.get_default_dtype()).clone()


def _layout_meta(**values: Any) -> dict[str, Any]:
    return {"neuro": {"layout": {k: layout(v) for k, v in values.items()}}}


def _stored(node: nir.NIRNode, name: str) -> str | None:
    meta = plain(node.metadata or {}).get("neuro", {})
    return meta.get("layout", {}).get(name) if isinstance(meta, dict) else None


# -- Linear / Affine ------------------------------------------------------------------------------
def export_linear(m: nn.Linear | EventLinear, shape: tuple[int, ...]) -> nir.NIRNode:
    if len(shape) != 1:
        raise Unsupported(f"NIR Affine maps vectors, but this Linear sees per-sample inputs of shape {shape}",
                          "insert nn.Flatten() before it")
    if m.bias is None:
        return nir.Linear(weight=_numpy(m.weight))
    return nir.Affine(weight=_numpy(m.weight), bias=_numpy(m.bias))


def _linear(weight: np.ndarray, bias: np.ndarray | None) -> nn.Linear:
    if np.ndim(weight) != 2:
        raise Unsupported(f"only 2-D weights are supported, got shape {np.shape(weight)}")
    out_f, in_f = np.shape(weight)
    m = nn.Linear(in_f, out_f, bias=bias is not None)
    with torch.no_grad():
        m.weight.copy_(_weight(weight))
        if bias is not None:
            m.bias.copy_(_weight(bias))
    return m


def import_affine(node: nir.Affine, ctx: NodeContext) -> nn.Module:
    return _linear(node.weight, node.bias)


def import_linear(node: nir.Linear, ctx: NodeContext) -> nn.Module:
    return _linear(node.weight, None)


# -- convolutions ---------------------------------------------------------------------------------
def _conv_checks(m: nn.Module) -> None:
    if m.padding_mode != "zeros":
        raise Unsupported(f"NIR convolutions pad with zeros; padding_mode={m.padding_mode!r}",
                          "use padding_mode='zeros' and fine-tune")
    if m.groups != 1:  # nir 1.0.8 types a conv's input channels as weight.shape[1], so nir.read rejects groups > 1
        raise Unsupported(f"NIR's type check takes weight.shape[1] as the input channels, so groups={m.groups} "
                          "graphs cannot be read back", "use groups=1")


def _conv_bias(m: nn.Module) -> np.ndarray:
    return _numpy(m.bias) if m.bias is not None else np.zeros(m.weight.shape[0], dtype=_numpy(m.weight).dtype)


def export_conv1d(m: nn.Conv1d, shape: tuple[int, ...]) -> nir.Conv1d:
    _conv_checks(m)
    padding = m.padding if isinstance(m.padding, str) else m.padding[0]
    return nir.Conv1d(input_shape=int(shape[-1]), weight=_numpy(m.weight), stride=m.stride[0], padding=padding,
                      dilation=m.dilation[0], groups=m.groups, bias=_conv_bias(m))


def export_conv2d(m: nn.Conv2d, shape: tuple[int, ...]) -> nir.Conv2d:
    _conv_checks(m)
    return nir.Conv2d(input_shape=tuple(int(s) for s in shape[-2:]), weight=_numpy(m.weight), stride=m.stride,
                      padding=m.padding, dilation=m.dilation, groups=m.groups, bias=_conv_bias(m))


def _import_conv(cls: type[nn.Module], node: nir.NIRNode) -> nn.Module:
    weight, bias, groups = np.asarray(node.weight), np.asarray(node.bias), _ints(node.groups)
    m = cls(weight.shape[1] * groups, weight.shape[0], tuple(weight.shape[2:]), stride=_ints(node.stride),
            padding=_ints(node.padding), dilation=_ints(node.dilation), groups=groups, bias=bool(np.any(bias != 0)))
    with torch.no_grad():
        m.weight.copy_(_weight(weight))
        if m.bias is not None:
            m.bias.copy_(_weight(bias))
    return m


def import_conv1d(node: nir.Conv1d, ctx: NodeContext) -> nn.Module:
    return _import_conv(nn.Conv1d, node)


def import_conv2d(node: nir.Conv2d, ctx: NodeContext) -> nn.Module:
    return _import_conv(nn.Conv2d, node)


# -- pooling and flatten ----------------------------------------------------------------------------
def export_avgpool2d(m: nn.AvgPool2d, shape: tuple[int, ...]) -> nir.NIRNode:
    pair = nn.modules.utils._pair
    kernel, padding = pair(m.kernel_size), pair(m.padding)
    stride = pair(m.stride) if m.stride is not None else kernel
    if m.ceil_mode:
        raise Unsupported("NIR pooling floors the output size; ceil_mode=True cannot be expressed",
                          "use ceil_mode=False")
    if any(padding) and not m.count_include_pad:
        raise Unsupported("NIR average pooling counts the zero padding; count_include_pad=False cannot be expressed",
                          "use count_include_pad=True or no padding")
    args = dict(kernel_size=np.array(kernel), stride=np.array(stride), padding=np.array(padding))
    if m.divisor_override is None:
        return nir.AvgPool2d(**args)
    if m.divisor_override == 1:
        return nir.SumPool2d(**args)
    raise Unsupported(f"divisor_override={m.divisor_override} is neither an average nor a sum",
                      "use AvgPool2d without divisor_override (or divisor_override=1 for sum pooling)")


def _pool_args(node: nir.NIRNode) -> dict[str, Any]:
    return dict(kernel_size=_ints(node.kernel_size), stride=_ints(node.stride), padding=_ints(node.padding))


def import_avgpool2d(node: nir.AvgPool2d, ctx: NodeContext) -> nn.Module:
    return nn.AvgPool2d(**_pool_args(node))


def import_sumpool2d(node: nir.SumPool2d, ctx: NodeContext) -> nn.Module:
    return nn.AvgPool2d(**_pool_args(node), divisor_override=1)  # sum = average without division


def export_flatten(m: nn.Flatten, shape: tuple[int, ...]) -> nir.Flatten:
    if m.start_dim == 0:
        raise Unsupported("this Flatten merges the batch dimension into the features", "use nn.Flatten(start_dim=1)")
    start = m.start_dim - 1 if m.start_dim > 0 else m.start_dim  # NIR counts dimensions without the batch
    end = m.end_dim - 1 if m.end_dim > 0 else m.end_dim
    return nir.Flatten(input_type={"input": np.array(shape)}, start_dim=start, end_dim=end)


def import_flatten(node: nir.Flatten, ctx: NodeContext) -> nn.Module:
    start, end = int(node.start_dim), int(node.end_dim)
    return nn.Flatten(start + 1 if start >= 0 else start, end + 1 if end >= 0 else end)


# -- Scale, Threshold, Delay ---------------------------------------------------------------------
def export_scale(m: Scale, shape: tuple[int, ...]) -> nir.Scale:
    return nir.Scale(scale=to_array(m.scale, shape), metadata=_layout_meta(scale=m.scale))


def import_scale(node: nir.Scale, ctx: NodeContext) -> nn.Module:
    return Scale(from_array(node.scale, _stored(node, "scale")))


def export_threshold(m: Threshold, shape: tuple[int, ...]) -> nir.Threshold:
    meta = _layout_meta(threshold=m.threshold)
    meta["neuro"]["surrogate"] = surrogate_table(m.surrogate)
    return nir.Threshold(threshold=to_array(m.threshold, shape), metadata=meta)


def import_threshold(node: nir.Threshold, ctx: NodeContext) -> nn.Module:
    surrogate = plain(node.metadata or {}).get("neuro", {}).get("surrogate", "atan")
    return Threshold(from_array(node.threshold, _stored(node, "threshold")), surrogate=surrogate)


def export_delay(m: Delay | DelayCell, shape: tuple[int, ...]) -> nir.Delay:
    steps = m.steps.to(torch.float64) if isinstance(m.steps, torch.Tensor) else float(m.steps)
    meta = {"dt": m.dt, **_layout_meta(steps=m.steps)}
    return nir.Delay(delay=to_array(steps, shape) * m.dt, metadata=meta)


def import_delay(node: nir.Delay, ctx: NodeContext) -> nn.Module:
    delay = np.asarray(node.delay, dtype=np.float64)
    steps = np.rint(delay / ctx.dt)
    if np.any(steps < 0) or not np.allclose(delay / ctx.dt, steps, rtol=1e-6, atol=1e-6):
        raise Unsupported(f"delays {np.unique(delay)[:4].tolist()} s are not whole multiples of dt={ctx.dt} s",
                          "import with a dt that divides every delay (from_nir(..., dt=...))")
    stored = _stored(node, "steps")
    value = from_array(steps, None if stored in (None, "float") else stored)
    value = int(value) if isinstance(value, float) else value.round().to(torch.long)
    return (DelayCell if ctx.step else Delay)(value, dt=ctx.dt)


# -- the tables --------------------------------------------------------------------------------------
#: Module type -> exporter ``fn(module, per_sample_input_shape) -> nir.NIRNode``.
EXPORTERS: dict[type[nn.Module], Callable[[Any, tuple[int, ...]], nir.NIRNode]] = {
    nn.Linear: export_linear,
    EventLinear: export_linear,  # the same affine map, computed event by event
    nn.Conv1d: export_conv1d,
    nn.Conv2d: export_conv2d,
    EventConv2d: export_conv2d,  # the same convolution, computed event by event
    nn.AvgPool2d: export_avgpool2d,
    nn.Flatten: export_flatten,
    Scale: export_scale,
    Threshold: export_threshold,
    Delay: export_delay,
    DelayCell: export_delay,
    LIF: export_lif,
    LIFCell: export_lif,
    PLIF: export_lif,
    PLIFCell: export_lif,
    LI: export_li,
    LICell: export_li,
    IF: export_if,
    IFCell: export_if,
    CubaLIF: export_cuba_lif,
    CubaLIFCell: export_cuba_lif,
}

#: NIR node type -> importer ``fn(node, NodeContext) -> nn.Module``.
IMPORTERS: dict[type[nir.NIRNode], Callable[[Any, NodeContext], nn.Module]] = {
    nir.Affine: import_affine,
    nir.Linear: import_linear,
    nir.Conv1d: import_conv1d,
    nir.Conv2d: import_conv2d,
    nir.AvgPool2d: import_avgpool2d,
    nir.SumPool2d: import_sumpool2d,
    nir.Flatten: import_flatten,
    nir.Scale: import_scale,
    nir.Threshold: import_threshold,
    nir.Delay: import_delay,
    nir.LIF: import_lif,
    nir.LI: import_li,
    nir.IF: import_if,
    nir.CubaLIF: import_cuba_lif,
}

#: NIR node types whose conversion needs the simulation time step.
NEEDS_DT: frozenset[type[nir.NIRNode]] = frozenset({nir.LIF, nir.LI, nir.IF, nir.CubaLIF, nir.Delay})

#: Modules that are the identity at inference and are left out of the graph.
SKIPPED: tuple[type[nn.Module], ...] = (nn.Identity, nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d,
                                         nn.AlphaDropout)

_MAXPOOL = ("NIR has no max-pooling", "replace it with nn.AvgPool2d of the same kernel (conv_snn: "
            "pool_type = \"avg\") and fine-tune")
_BATCHNORM = ("NIR has no batch normalisation", "fold it into the preceding Conv/Linear: to_nir(..., "
              "fold_batchnorm=True) (neuro export folds by default)")

#: Module types NIR cannot represent: type -> (reason, fix or "").
KNOWN_UNSUPPORTED: dict[type[nn.Module], tuple[str, str]] = {
    nn.MaxPool1d: _MAXPOOL,
    nn.MaxPool2d: _MAXPOOL,
    nn.MaxPool3d: _MAXPOOL,
    nn.AdaptiveMaxPool2d: _MAXPOOL,
    nn.AdaptiveAvgPool2d: ("NIR pooling has a fixed kernel and stride", "replace it with nn.AvgPool2d of the "
                           "kernel it uses for your input size"),
    nn.BatchNorm1d: _BATCHNORM,
    nn.BatchNorm2d: _BATCHNORM,
    nn.BatchNorm3d: _BATCHNORM,
    nn.LayerNorm: ("NIR has no normalisation layers", ""),
    nn.GroupNorm: ("NIR has no normalisation layers", ""),
    nn.MultiheadAttention: ("NIR has no attention (no products of two signals)", ""),
    ALIF: ("NIR has no adaptive-threshold neuron", "replace ALIF with LIF and fine-tune"),
    ALIFCell: ("NIR has no adaptive-threshold neuron", "replace ALIF with LIF and fine-tune"),
    Izhikevich: ("NIR has no Izhikevich neuron (quadratic membrane with a recovery variable)", ""),
    IzhikevichCell: ("NIR has no Izhikevich neuron (quadratic membrane with a recovery variable)", ""),
}
