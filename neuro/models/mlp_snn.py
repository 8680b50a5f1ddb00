"""A fully connected SNN on flattened event frames, built from event-driven fused layers.

``flatten -> SpikingLinear(hidden_1) -> ... -> readout``: every hidden layer is a
:class:`~neuro.layers.SpikingLinear` (an :class:`~neuro.layers.EventLinear` synapse and its neurons,
fused on the ``fused`` backend when the input spikes are sparse), the readout either spiking neurons
(``readout = "spikes"``: train on spike counts) or leaky integrators behind an ``EventLinear``
(``readout = "membrane"``). The default is the classic N-MNIST MLP ``2312-512-10`` of the benchmark's W1.
``recompute = true`` trades one more gather per layer for about one ``(T, B, hidden)`` buffer less of
training memory per layer (see :class:`~neuro.layers.SpikingLinear`).

Example:
    >>> import torch
    >>> net = build_mlp_snn(MLPSNNConfig(hidden=(20,)), (2, 4, 4), 3)
    >>> net((torch.rand(6, 2, 2, 4, 4) < 0.1).float())[0].shape
    torch.Size([6, 2, 3])
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

from torch import nn

from neuro.core.sequential import Sequential
from neuro.errors import ConfigError
from neuro.layers.event_linear import EventLinear
from neuro.layers.spiking_linear import SpikingLinear
from neuro.neurons import build as build_neuron

__all__ = ["MLPSNNConfig", "build_mlp_snn"]


@dataclass(frozen=True)
class MLPSNNConfig:
    """``[model]`` of ``name = "mlp_snn"``."""

    hidden: tuple[int, ...] = (512,)
    neuron: dict[str, Any] = field(default_factory=lambda: {"name": "lif"})
    readout: Literal["spikes", "membrane"] = "spikes"
    bias: bool = True
    max_density: float | None = None
    recompute: bool = False

    def __post_init__(self) -> None:
        if any(int(h) != h or h < 1 for h in self.hidden):
            raise ConfigError(f"model.hidden must be positive integers, got {self.hidden!r}")
        if self.readout not in ("spikes", "membrane"):
            raise ConfigError(f"model.readout must be 'spikes' or 'membrane', got {self.readout!r}")
        if self.max_density is not None and not 0.0 <= self.max_density <= 1.0:
            raise ConfigError(f"model.max_density must be in [0, 1], got {self.max_density!r}")


def _neuron(table: dict[str, Any]) -> nn.Module:
    table = dict(table)
    return build_neuron(table.pop("name", "lif"), **table)


def build_mlp_snn(cfg: MLPSNNConfig, input_shape: tuple[int, ...], num_classes: int) -> Sequential:
    """The network for per-step inputs of ``input_shape`` and ``num_classes`` outputs."""
    n_in = math.prod(input_shape)
    layers: list[nn.Module] = [nn.Flatten()] if len(input_shape) > 1 else []
    for width in cfg.hidden:
        layers.append(SpikingLinear(n_in, int(width), cfg.bias, neuron=_neuron(cfg.neuron),
                                    max_density=cfg.max_density, recompute=cfg.recompute))
        n_in = int(width)
    if cfg.readout == "spikes":
        layers.append(SpikingLinear(n_in, num_classes, cfg.bias, neuron=_neuron(cfg.neuron),
                                    max_density=cfg.max_density, recompute=cfg.recompute))
    else:
        layers.append(EventLinear(n_in, num_classes, cfg.bias, max_density=cfg.max_density))
        li = {k: v for k, v in cfg.neuron.items() if k in ("tau_mem", "dt")}
        layers.append(build_neuron("li", **li))
    return Sequential(*layers)
