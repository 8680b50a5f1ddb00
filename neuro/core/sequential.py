"""A container that threads each layer's state through a stack of layers.

``Sequential(*layers)`` is itself a stateful module, ``forward(x, state=None) -> (out, state)``,
whose state is a tuple with one entry per layer (``None`` for stateless layers). Its time mode
follows its layers:

* layers that run whole sequences (``LIF``, ``TimeDistributed``, nested sequence ``Sequential``) make
  a **sequence** container over ``(T, B, ...)``; plain ``torch.nn`` layers in it are wrapped in
  :class:`~neuro.core.time_distributed.TimeDistributed` automatically;
* single-step cells (``LIFCell`` ...) make a **step** container over ``(B, ...)``, which
  :func:`neuro.simulate` runs step by step; plain layers are applied per step.

Mixing the two is an error naming the offending layers. In a sequence container a LIF-family neuron followed
by a max or average pool (window = stride) runs as one fused operation where the backend has one (see
:mod:`neuro.layers.spiking_pool`); the modules, the state and the results stay those of the two layers.

Example:
    >>> import torch
    >>> from neuro import LIF
    >>> net = Sequential(torch.nn.Linear(4, 3), LIF())
    >>> out, state = net(torch.ones(10, 2, 4))
    >>> out.shape, len(state)
    (torch.Size([10, 2, 3]), 2)
"""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from neuro.core.time_distributed import TimeDistributed
from neuro.errors import ShapeError

__all__ = ["Sequential", "is_stateful"]


def is_stateful(module: nn.Module) -> bool:
    """True for modules with the ``forward(x, state=None) -> (out, state)`` convention."""
    return bool(getattr(module, "stateful", False))


class Sequential(nn.Sequential):
    """Stack of layers with per-layer state threading; see the module docstring."""

    stateful = True

    def __init__(self, *layers: nn.Module) -> None:
        modes = {i: m.is_sequence for i, m in enumerate(layers) if hasattr(m, "is_sequence")}
        kinds = set(modes.values())
        if len(kinds) > 1:
            steps = [f"{i}:{type(layers[i]).__name__}" for i, seq in modes.items() if not seq]
            seqs = [f"{i}:{type(layers[i]).__name__}" for i, seq in modes.items() if seq]
            raise ValueError(f"Sequential mixes single-step layers ({', '.join(steps)}) with sequence layers "
                             f"({', '.join(seqs)}); use XCell everywhere or X everywhere")
        is_sequence = kinds != {False}
        if is_sequence:
            layers = tuple(m if hasattr(m, "is_sequence") else TimeDistributed(m) for m in layers)
        super().__init__(*layers)
        self.is_sequence = is_sequence

    def forward(self, x: Tensor, state: tuple[Any, ...] | None = None) -> tuple[Tensor, tuple[Any, ...]]:
        if state is None:
            state = (None,) * len(self)
        elif len(state) != len(self):
            raise ShapeError(f"Sequential: state has {len(state)} entries for {len(self)} layers")
        from neuro.layers.spiking_pool import fused_pair  # here: neuro.layers imports this module

        layers = list(self)
        new_state: list[Any] = []
        i = 0
        while i < len(layers):
            layer, s = layers[i], state[i]
            if self.is_sequence and i + 1 < len(layers) and state[i + 1] is None:
                fused = fused_pair(layer, layers[i + 1], x, s)  # a neuron and the pool after it, as one operation
                if fused is not None:
                    x, s = fused
                    new_state += [s, None]
                    i += 2
                    continue
            if is_stateful(layer):
                x, s = layer(x, s)
            else:
                x = layer(x)
            new_state.append(s)
            i += 1
        return x, tuple(new_state)
