"""A small convolutional SNN for event data (the quickstart model).

``conv(k) -> BN -> neuron -> pool`` blocks (the convolutions are :class:`~neuro.layers.EventConv2d`:
event-driven on sparse inputs such as event frames; average pooling by default, which NIR and most chips
support; ``pool_type = "max"`` for max pooling; each neuron and its pool run as one fused operation on CPU,
see :mod:`neuro.layers.spiking_pool`), then a linear readout into either spiking neurons
(``readout = "spikes"``: train on spike counts) or leaky integrators (``readout = "membrane"``).
The default is the classic N-MNIST network ``12c5-p2-32c5-p2-fc10``.

Example:
    >>> import torch
    >>> net = build_conv_snn(ConvSNNConfig(), (2, 34, 34), 10)
    >>> net(torch.zeros(4, 3, 2, 34, 34))[0].shape
    torch.Size([4, 3, 10])
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from torch import nn

from neuro.core.sequential import Sequential
from neuro.errors import ConfigError
from neuro.layers.event_conv import EventConv2d
from neuro.layers.pool import MaxPool2d
from neuro.neurons import build as build_neuron


@dataclass(frozen=True)
class ConvSNNConfig:
    channels: tuple[int, ...] = (12, 32)
    kernel_size: int = 5
    pool: int = 2
    pool_type: Literal["avg", "max"] = "avg"
    batch_norm: bool = True
    dropout: float = 0.0
    neuron: dict[str, Any] = field(default_factory=lambda: {"name": "lif"})
    readout: Literal["spikes", "membrane"] = "spikes"

    def __post_init__(self) -> None:
        if not self.channels or any(c < 1 for c in self.channels):
            raise ConfigError(f"model.channels must be positive integers, got {self.channels!r}")
        if self.kernel_size < 1 or self.pool < 1:
            raise ConfigError("model.kernel_size and model.pool must be >= 1")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"model.dropout must be in [0, 1), got {self.dropout!r}")


def _neuron(table: dict[str, Any]) -> nn.Module:
    table = dict(table)
    name = table.pop("name", "lif")
    return build_neuron(name, **table)


def build_conv_snn(cfg: ConvSNNConfig, input_shape: tuple[int, ...], num_classes: int) -> Sequential:
    if len(input_shape) != 3:
        raise ConfigError(f"conv_snn needs (C, H, W) input per time step, got {input_shape}")
    layers: list[nn.Module] = []
    c_in = input_shape[0]
    for c_out in cfg.channels:
        layers.append(EventConv2d(c_in, c_out, cfg.kernel_size, padding=cfg.kernel_size // 2, bias=not cfg.batch_norm))
        if cfg.batch_norm:
            layers.append(nn.BatchNorm2d(c_out))
        layers.append(_neuron(cfg.neuron))
        if cfg.pool > 1:
            layers.append(nn.AvgPool2d(cfg.pool) if cfg.pool_type == "avg" else MaxPool2d(cfg.pool))
        c_in = c_out
    layers.append(nn.Flatten())
    if cfg.dropout:
        layers.append(nn.Dropout(cfg.dropout))
    with torch.no_grad():  # infer the flattened size from a dry run of the conv stack
        probe = Sequential(*layers)(torch.zeros(1, 1, *input_shape))[0]
    layers.append(nn.Linear(probe.shape[-1], num_classes))
    if cfg.readout == "spikes":
        layers.append(_neuron(cfg.neuron))
    else:
        neuron = {k: v for k, v in cfg.neuron.items() if k in ("tau_mem", "dt")}
        layers.append(build_neuron("li", **neuron))
    return Sequential(*layers)
