"""The reference backend: plain torch, one Python step per time step.

This is the executable specification. Its generic ``"sequence"`` operation runs any neuron's pure
step function over time; specialised backends register faster versions of the same operations under
the neuron's name (``"lif"``, ...) and are tested against this one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import torch
from torch import Tensor

__all__ = ["OPS", "run_steps"]


def run_steps(
    step: Callable[[Tensor, Any, Any], tuple[Tensor, NamedTuple]],
    x: Tensor,
    state: NamedTuple,
    params: NamedTuple,
    record: bool = False,
) -> tuple[Tensor, NamedTuple, NamedTuple | None]:
    """Run ``step`` over the leading (time) axis of ``x``.

    Returns ``(outputs, final_state, states)`` where ``outputs`` is ``(T, ...)`` and ``states`` holds
    every per-step state stacked along a new time axis when ``record`` is true, else ``None``.
    """
    outs: list[Tensor] = []
    history: list[NamedTuple] = []
    for x_t in x.unbind(0):  # unbind, not x[t]: indexing a grad tensor per step costs O(T^2) in backward
        out, state = step(x_t, state, params)
        outs.append(out)
        if record:
            history.append(state)
    states = type(state)(*(torch.stack(f) for f in zip(*history, strict=True))) if record else None
    return torch.stack(outs), state, states


OPS: dict[str, Callable[..., Any]] = {"sequence": run_steps}
