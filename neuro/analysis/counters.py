"""Per-module counters: functions ``counter(module, inputs, output, options) -> CallOps``.

:data:`COUNTERS` maps a module type (or, for optional peer libraries, the dotted name of a class so
that they need not be imported) to its counter; :func:`counter_for` finds the counter of a module by
walking its class hierarchy. A module may instead count itself by defining a method
``count_ops(inputs, output, options) -> CallOps`` (the extension point for custom layers such as
spike-driven attention; see :mod:`neuro.analysis.attention`). A counter counts only the module's own
operations, never its children's (they have their own hooks).

Example:
    >>> import torch
    >>> ops = linear_ops(torch.nn.Linear(3, 2), (torch.tensor([[1.0, 0.0, 1.0]]),), None, CountOptions())
    >>> ops.macs, ops.synops, ops.input_binary
    (6.0, 4.0, True)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from neuro.analysis.ops import CallOps, CountOptions
from neuro.errors import NeuroError, ShapeError
from neuro.neurons.base import NeuronModule

__all__ = ["COUNTERS", "Counter", "conv_ops", "counter_for", "is_binary", "linear_ops", "neuron_ops",
           "peer_neuron_ops", "unsupported_ops"]

Counter = Callable[[nn.Module, tuple[Any, ...], Any, CountOptions], CallOps]


def is_binary(x: Tensor) -> bool:
    """True when every element of ``x`` is exactly 0 or 1 (a spike tensor)."""
    return bool(((x == 0) | (x == 1)).all())


def _input_bytes(x: Tensor, binary: bool, options: CountOptions) -> float:
    return x.numel() * (1 if binary else options.act_bits) / 8


def _first_tensor(inputs: tuple[Any, ...], module: nn.Module) -> Tensor:
    if not inputs or not isinstance(inputs[0], Tensor):
        raise ShapeError(f"count_ops: {type(module).__name__} was called without a tensor as first input")
    return inputs[0]


def _out_tensor(output: Any) -> Tensor:
    return output[0] if isinstance(output, tuple | list) else output


def linear_ops(module: nn.Linear, inputs: tuple[Any, ...], output: Any, options: CountOptions) -> CallOps:
    """Linear layer over input ``(..., in_features)``: ``macs = rows * in * out``, ``synops = nnz * out``."""
    x = _first_tensor(inputs, module).detach()
    if x.shape[-1] != module.in_features:
        raise ShapeError(f"count_ops: {module} got input of shape {tuple(x.shape)}")
    nnz = float(torch.count_nonzero(x))
    binary = is_binary(x)
    synops = nnz * module.out_features
    outputs = x.numel() // module.in_features * module.out_features
    return CallOps("synapse", macs=float(x.numel() * module.out_features), synops=synops, input_events=nnz,
                   input_elements=float(x.numel()), input_binary=binary, row_activations=nnz,
                   outputs=float(outputs), params=module.weight.numel(),
                   weight_read_bytes=synops * options.weight_bits / 8,
                   act_read_bytes=_input_bytes(x, binary, options), act_write_bytes=outputs * options.act_bits / 8)


def conv_ops(module: nn.modules.conv._ConvNd, inputs: tuple[Any, ...], output: Any,
             options: CountOptions) -> CallOps:
    """Convolution (1-3 d, any groups/stride/padding/dilation); leading dims beyond ``(C, *spatial)``
    (e.g. SpikingJelly's ``(T, B, ...)``) are folded into the batch.

    ``synops`` is exact: it convolves the non-zero mask of the input with an all-ones kernel, so it
    counts, for every output position, the non-zero inputs in its receptive field (padding included).
    """
    x = _first_tensor(inputs, module).detach()
    nd = len(module.kernel_size)
    if x.dim() < nd + 1 or x.shape[-nd - 1] != module.in_channels:
        raise ShapeError(f"count_ops: {module} got input of shape {tuple(x.shape)}")
    x = x.reshape(-1, *x.shape[-nd - 1:])  # (N, C_in, *spatial)
    out = _out_tensor(output).detach()
    out_numel = out.numel()
    c_in_g = module.in_channels // module.groups
    c_out_g = module.out_channels // module.groups
    k = 1
    for size in module.kernel_size:
        k *= size
    macs = float(out_numel * c_in_g * k)
    mask = (x != 0).to(torch.float64)
    conv = (F.conv1d, F.conv2d, F.conv3d)[nd - 1]
    padding: Any = module.padding
    if module.padding_mode != "zeros":
        mask = F.pad(mask, module._reversed_padding_repeated_twice, mode=module.padding_mode)
        padding = 0
    ones = torch.ones(module.groups, c_in_g, *module.kernel_size, dtype=torch.float64, device=x.device)
    rows = conv(mask, ones, None, module.stride, padding, module.dilation, module.groups)
    row_activations = float(rows.sum())
    synops = row_activations * c_out_g
    nnz = float(mask.sum()) if module.padding_mode == "zeros" else float(torch.count_nonzero(x))
    binary = is_binary(x)
    return CallOps("synapse", macs=macs, synops=synops, input_events=nnz, input_elements=float(x.numel()),
                   input_binary=binary, row_activations=row_activations, outputs=float(out_numel),
                   params=module.weight.numel(), weight_read_bytes=synops * options.weight_bits / 8,
                   act_read_bytes=_input_bytes(x, binary, options),
                   act_write_bytes=out_numel * options.act_bits / 8)


def unsupported_ops(module: nn.Module, inputs: tuple[Any, ...], output: Any, options: CountOptions) -> CallOps:
    """Placeholder for layers whose counts would be wrong under a parent's counter."""
    raise NeuroError(f"count_ops: no counter for {type(module).__name__}; pass "
                              f"counters={{{type(module).__name__}: fn}} or give it a count_ops() method")


def _neuron_call(x: Tensor, out: Tensor, state_vars: int, spiking: bool, options: CountOptions) -> CallOps:
    n = float(x.numel())
    binary = is_binary(x)
    state_bytes = n * state_vars * options.state_bits / 8
    return CallOps("neuron", input_events=float(torch.count_nonzero(x)), input_elements=n, input_binary=binary,
                   outputs=float(out.numel()), state_updates=n, state_vars=state_vars,
                   spikes=float(torch.count_nonzero(out)) if spiking else 0.0,
                   state_read_bytes=state_bytes, state_write_bytes=state_bytes,
                   act_read_bytes=_input_bytes(x, binary, options),
                   act_write_bytes=out.numel() * (1 if spiking else options.act_bits) / 8)


def neuron_ops(module: NeuronModule, inputs: tuple[Any, ...], output: Any, options: CountOptions) -> CallOps:
    """A neuro neuron (cell or sequence): one update per input element; spikes counted when the
    neuron's output is spikes (``output_name == "spikes"``; a leaky integrator emits none)."""
    x = _first_tensor(inputs, module).detach()
    out = _out_tensor(output).detach()
    return _neuron_call(x, out, len(module.State._fields), module.output_name == "spikes", options)


#: State variables of peer neurons whose state is not a single membrane potential.
PEER_STATE_VARS: dict[str, int] = {"Synaptic": 2, "Alpha": 2, "RSynaptic": 2, "SLSTM": 2, "SConv2dLSTM": 2,
                                   "IzhikevichNode": 2}


def peer_neuron_ops(module: nn.Module, inputs: tuple[Any, ...], output: Any, options: CountOptions) -> CallOps:
    """snnTorch ``SpikingNeuron`` and SpikingJelly ``BaseNode``: the spikes are the (first) output."""
    x = _first_tensor(inputs, module).detach()
    out = _out_tensor(output).detach()
    return _neuron_call(x, out, PEER_STATE_VARS.get(type(module).__name__, 1), True, options)


#: Registry: module type (or dotted class name of an optional peer library) -> counter.
COUNTERS: dict[type | str, Counter] = {
    nn.Linear: linear_ops,
    nn.modules.conv._ConvNd: conv_ops,
    nn.modules.conv._ConvTransposeNd: unsupported_ops,
    NeuronModule: neuron_ops,
    "snntorch._neurons.neurons.SpikingNeuron": peer_neuron_ops,
    "spikingjelly.activation_based.neuron.base_node.BaseNode": peer_neuron_ops,
}


def counter_for(module: nn.Module, extra: Mapping[type | str, Counter] | None = None) -> Counter | None:
    """The counter of ``module``: its own ``count_ops`` method, else the first class in its MRO found
    in ``extra`` then :data:`COUNTERS` (by type or dotted name); ``None`` when it has none."""
    method = getattr(module, "count_ops", None)
    if callable(method):
        return lambda m, inputs, output, options: m.count_ops(inputs, output, options)
    tables = (extra, COUNTERS) if extra else (COUNTERS,)
    for cls in type(module).__mro__:
        dotted = f"{cls.__module__}.{cls.__qualname__}"
        for table in tables:
            for key in (cls, dotted):
                if key in table:
                    return table[key]
    return None
