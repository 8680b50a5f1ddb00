"""Workloads W1-W3: layer-wise spiking networks (and a lone LIF layer) in every implementation.

Every implementation gets the same weights and inputs (seeded) and the same stateless layers
(``torch.nn`` linear/conv/pool, run over all time steps at once); only the neuron differs, as
built by :mod:`neuro.bench.peers`. neuro additionally uses :class:`~neuro.layers.EventLinear` for
its linear synapses (the event-driven path when the input spikes are sparse).

A :class:`Case` is one workload at one size in one implementation: ``step()`` is the timed work
(one training step: forward, loss, backward, SGD update; or a forward pass), ``spikes()`` the
per-layer spikes of a forward pass, compared across implementations before timing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from neuro.bench.peers import input_scale, neuron, neuron_module

__all__ = ["Case", "LayerSpec", "conv_net", "lif_layer", "mlp"]


@dataclass
class Case:
    """One implementation of one workload: ``step()`` is timed, ``spikes()`` verified."""

    step: Callable[[], Any]
    spikes: Callable[[], dict[str, Tensor]]


LayerSpec = tuple  # ("linear", in, out) | ("conv", c_in, c_out, k) | ("pool", k) | ("flatten",) | ("lif",)


def _weights(layers: list[LayerSpec], scales: list[tuple[float, float]], seed: int) -> list[dict[str, Tensor]]:
    """Weights of every synaptic layer, drawn once: ``N(mean, std)`` per layer (float64)."""
    g = torch.Generator().manual_seed(seed)
    out, k = [], 0
    for spec in layers:
        if spec[0] in ("linear", "conv"):
            shape = (spec[2], spec[1]) if spec[0] == "linear" else (spec[2], spec[1], spec[3], spec[3])
            mean, std = scales[k]
            w = torch.randn(shape, generator=g, dtype=torch.float64) * std + mean
            out.append({"weight": w, "bias": torch.zeros(spec[2], dtype=torch.float64)})
            k += 1
    return out


def _build(impl: str, layers: list[LayerSpec], weights: list[dict[str, Tensor]], dtype: torch.dtype,
           recompute: bool = False) -> tuple[list[tuple[str, Any]], list[nn.Module]]:
    """``[(kind, callable)]`` of one implementation, and its trainable modules.

    neuro runs each linear layer with the neuron after it as one :class:`~neuro.layers.SpikingLinear`
    (kind ``"spiking"``): the fused event-driven synapse + neuron when the input is sparse (with
    ``recompute``: the currents gathered again in the backward instead of kept); and each neuron with
    the max pool after it as one :class:`~neuro.layers.SpikingMaxPool2d` (kind ``"spiking_pool"``).
    """
    from neuro.layers import EventConv2d, MaxPool2d, SpikingLinear, SpikingMaxPool2d

    built, params, k = [], [], 0
    scale = input_scale(impl)
    fused_next = False
    for i, spec in enumerate(layers):
        kind = spec[0]
        if kind == "lif" and fused_next:
            fused_next = False
            continue
        if kind == "pool" and built and built[-1][0] == "spiking_pool":
            continue  # run by the neuron before it
        if kind == "lif" and impl == "neuro" and i + 1 < len(layers) and layers[i + 1][0] == "pool":
            pooled = SpikingMaxPool2d(layers[i + 1][1], neuron=neuron_module(impl))
            built.append(("spiking_pool", lambda x, f=pooled: f(x)[0]))
            continue
        if kind in ("linear", "conv"):
            fused_next = impl == "neuro" and kind == "linear" and i + 1 < len(layers) and layers[i + 1][0] == "lif"
            if fused_next:
                fused = SpikingLinear(spec[1], spec[2], neuron=neuron_module(impl), recompute=recompute)
                mod = fused.linear
            elif kind == "linear":
                mod = nn.Linear(spec[1], spec[2])
            elif impl == "neuro":  # event-driven for sparse inputs (event frames, spikes), else oneDNN's
                mod = EventConv2d(spec[1], spec[2], spec[3])
            else:
                mod = nn.Conv2d(spec[1], spec[2], spec[3])
            with torch.no_grad():
                mod.weight.copy_(weights[k]["weight"] * scale)
                mod.bias.copy_(weights[k]["bias"] * scale)
            mod.to(dtype)
            params.append(mod)
            k += 1
            if fused_next:
                built.append(("spiking", lambda x, f=fused: f(x)[0]))
                continue
        elif kind == "pool":  # neuro's keeps a byte per window for backward, on the fused backend
            mod = MaxPool2d(spec[1]) if impl == "neuro" else nn.MaxPool2d(spec[1])
        elif kind == "flatten":
            mod = nn.Flatten()
        else:
            built.append(("lif", neuron(impl)))
            continue
        built.append((kind, mod))
    return built, params


def _forward(built: list[tuple[str, Any]], x: Tensor, record: dict[str, Tensor] | None = None) -> Tensor:
    """Run the layers; ``record`` gets the spikes of every neuron layer and every pool (``layer{index}``, the
    index in the layer list: a fused linear + neuron or neuron + pool counts as two layers)."""
    i = 0
    for kind, fn in built:
        if kind in ("lif", "spiking", "spiking_pool"):
            x = fn(x)
            i += kind != "lif"
        else:
            t, b = x.shape[:2]
            x = fn(x.flatten(0, 1)).unflatten(0, (t, b))  # stateless layers: all steps at once
        if record is not None and kind != "linear" and kind != "conv" and kind != "flatten":
            record[f"layer{i}"] = x.detach()
        i += 1
    return x


def _network_case(impl: str, layers: list[LayerSpec], weights: list[dict[str, Tensor]], x: Tensor,
                  target: Tensor, dtype: torch.dtype, train: bool, device: str = "cpu",
                  recompute: bool = False) -> Case:
    built, modules = _build(impl, layers, weights, dtype, recompute)
    for m in modules:
        m.to(device)
    params = [p for m in modules for p in m.parameters()]
    opt = torch.optim.SGD(params, lr=1e-3)
    x, target = x.to(device, dtype), target.to(device)

    def step() -> None:
        if not train:
            with torch.no_grad():
                _forward(built, x)
            return
        opt.zero_grad(set_to_none=True)
        out = _forward(built, x)
        F.cross_entropy(out.sum(0), target).backward()
        opt.step()

    def spikes() -> dict[str, Tensor]:
        record: dict[str, Tensor] = {}
        with torch.no_grad():
            _forward(built, x, record)
        return record

    return Case(step, spikes)


def _spike_input(shape: tuple[int, ...], density: float, seed: int) -> Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(shape, generator=g) < density).double()


def mlp(impl: str, size: dict[str, int], dtype: torch.dtype, seed: int = 0, device: str = "cpu") -> Case:
    """W1: ``in -> hidden -> out`` LIF MLP, sparse input spikes, one training step."""
    t, b, k, h, o = size["T"], size["B"], size["inputs"], size["hidden"], size["outputs"]
    layers = [("linear", k, h), ("lif",), ("linear", h, o), ("lif",)]
    density = size.get("density_pct", 5) / 100
    active = max(1.0, k * density)  # input spikes per step: weights scaled to give ~20 % hidden firing
    weights = _weights(layers, [(0.35 / active, 0.7 / active**0.5), (0.0, 1.0 / (0.2 * h) ** 0.5)], seed)
    x = _spike_input((t, b, k), density, seed + 1)
    target = torch.arange(b) % o
    return _network_case(impl, layers, weights, x, target, dtype, True, device,
                         recompute=bool(size.get("recompute", 0)))


def conv_net(impl: str, size: dict[str, int], dtype: torch.dtype, seed: int = 0, device: str = "cpu") -> Case:
    """W2: ``12c5-mp2-32c5-mp2-fc10`` LIF convnet on 2-channel event frames, one training step."""
    t, b, hw = size["T"], size["B"], size["hw"]
    side = ((hw - 4) // 2 - 4) // 2
    layers = [("conv", 2, 12, 5), ("lif",), ("pool", 2), ("conv", 12, 32, 5), ("lif",), ("pool", 2),
              ("flatten",), ("linear", 32 * side * side, 10), ("lif",)]
    weights = _weights(layers, [(0.05, 0.25), (0.0, 0.12), (0.0, 0.06)], seed)
    x = _spike_input((t, b, 2, hw, hw), size.get("density_pct", 10) / 100, seed + 1)
    return _network_case(impl, layers, weights, x, torch.arange(b) % 10, dtype, True, device)


def lif_layer(impl: str, size: dict[str, int], dtype: torch.dtype, seed: int = 0, train: bool = False,
              device: str = "cpu") -> Case:
    """W3: one LIF layer over ``(T, N)`` currents; forward, or forward + backward of a fixed gradient."""
    g = torch.Generator().manual_seed(seed)
    x = (torch.rand((size["T"], size["N"]), generator=g, dtype=torch.float64) * 1.2 * input_scale(impl))
    grad = torch.rand((size["T"], size["N"]), generator=g, dtype=torch.float64) - 0.5
    x, grad = x.to(device, dtype), grad.to(device, dtype)
    fn = neuron(impl)
    leaf = x.clone().requires_grad_(train)

    def step() -> None:
        if train:
            leaf.grad = None
            fn(leaf).backward(grad)
        else:
            with torch.no_grad():
                fn(x)

    def spikes() -> dict[str, Tensor]:
        with torch.no_grad():
            return {"lif": fn(x)}

    return Case(step, spikes)
