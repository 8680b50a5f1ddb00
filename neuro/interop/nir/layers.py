r"""Modules for the NIR nodes that have no ``torch.nn`` equivalent: ``Scale``, ``Threshold``, ``Delay``.

* :class:`Scale` — NIR ``Scale``, :math:`y_t = s \odot x_t` (stateless).
* :class:`Threshold` — NIR ``Threshold``, :math:`z_t = \Theta(x_t - \theta)` with neuro's
  spike convention (``>=``; NIR writes ``>``), surrogate gradient in the backward pass.
* :class:`Delay` / :class:`DelayCell` — NIR ``Delay``, :math:`y_t = x_{t-d}` with ``d`` whole
  time steps per element (NIR's delay in seconds is ``d * dt``); the first ``d`` outputs are zero.
  State: the last ``D = max(d)`` inputs, oldest first, shape ``(D, B, ...)``.

NIR's ``SumPool2d`` needs no module of its own: it is ``torch.nn.AvgPool2d(..., divisor_override=1)``.

Example:
    >>> import torch
    >>> y, _ = Delay(2)(torch.arange(1.0, 5.0).reshape(4, 1, 1))
    >>> y.flatten().tolist()
    [0.0, 0.0, 1.0, 2.0]
"""

from __future__ import annotations

from typing import ClassVar, NamedTuple

import torch
from torch import Tensor, nn

from neuro.core.surrogate import Surrogate, resolve_surrogate
from neuro.errors import ShapeError

__all__ = ["Delay", "DelayCell", "DelayState", "Scale", "Threshold"]


def _buffer_or_float(module: nn.Module, name: str, value: Tensor | float) -> None:
    if isinstance(value, Tensor):
        module.register_buffer(name, value.detach().clone())
    else:
        setattr(module, name, float(value))


class Scale(nn.Module):
    """Element-wise scaling ``x * scale`` (NIR ``Scale``); ``scale`` broadcasts over the batch."""

    def __init__(self, scale: Tensor | float) -> None:
        super().__init__()
        _buffer_or_float(self, "scale", scale)

    def forward(self, x: Tensor) -> Tensor:
        return x * self.scale

    def extra_repr(self) -> str:
        s = self.scale
        return f"scale=tensor{tuple(s.shape)}" if isinstance(s, Tensor) else f"scale={s:g}"


class Threshold(nn.Module):
    """Stateless spike non-linearity ``surrogate(x - threshold)`` (NIR ``Threshold``)."""

    def __init__(self, threshold: Tensor | float = 1.0, surrogate: Surrogate | str = "atan") -> None:
        super().__init__()
        _buffer_or_float(self, "threshold", threshold)
        self.surrogate = resolve_surrogate(surrogate)

    def forward(self, x: Tensor) -> Tensor:
        return self.surrogate(x - self.threshold)

    def extra_repr(self) -> str:
        t = self.threshold
        shown = f"tensor{tuple(t.shape)}" if isinstance(t, Tensor) else f"{t:g}"
        return f"threshold={shown}, surrogate={self.surrogate!r}"


class DelayState(NamedTuple):
    history: Tensor  # (D, B, ...), the last D inputs, oldest first


class _DelayBase(nn.Module):
    State: ClassVar[type] = DelayState
    stateful: ClassVar[bool] = True

    def __init__(self, steps: Tensor | int, dt: float = 1e-3) -> None:
        super().__init__()
        if isinstance(steps, Tensor):
            if steps.is_floating_point() or (steps < 0).any():
                raise ValueError(f"{type(self).__name__}: steps must be non-negative integers, got {steps}")
            self.register_buffer("steps", steps.detach().to(torch.long).clone())
            self.max_steps = int(steps.max()) if steps.numel() else 0
        else:
            if isinstance(steps, bool) or int(steps) != steps or steps < 0:
                raise ValueError(f"{type(self).__name__}: steps must be a non-negative integer, got {steps!r}")
            self.steps = int(steps)
            self.max_steps = int(steps)
        if not dt > 0:
            raise ValueError(f"{type(self).__name__}: dt must be > 0 seconds, got {dt!r}")
        self.dt = float(dt)

    def initial_state(self, x: Tensor) -> DelayState:
        """Zero history for one time step of input ``x`` (shape ``(B, ...)``)."""
        return DelayState(x.new_zeros((self.max_steps, *x.shape)))

    def _check(self, state: DelayState, x: Tensor) -> None:
        if not isinstance(state, DelayState) or tuple(state.history.shape) != (self.max_steps, *x.shape):
            got = tuple(state.history.shape) if isinstance(state, DelayState) else type(state).__name__
            raise ShapeError(f"{type(self).__name__}: state history must have shape "
                             f"{(self.max_steps, *x.shape)}, got {got}")

    def _gather(self, full: Tensor, last: int, count: int) -> Tensor:
        """Rows ``last - steps + k`` of ``full`` for ``k < count`` (per element when steps is a tensor)."""
        offsets = torch.arange(count, device=full.device).view(-1, *([1] * (full.dim() - 1)))
        index = last - self.steps + offsets  # (count, ...) broadcast against one step's shape
        index = torch.as_tensor(index, device=full.device).expand(count, *full.shape[1:])
        return torch.gather(full, 0, index)

    def extra_repr(self) -> str:
        s = self.steps
        shown = f"tensor{tuple(s.shape)}" if isinstance(s, Tensor) else str(s)
        return f"steps={shown}, dt={self.dt:g}"


class DelayCell(_DelayBase):
    """One step of a delay line; input ``(B, ...)``."""

    is_sequence: ClassVar[bool] = False

    def forward(self, x: Tensor, state: DelayState | None = None) -> tuple[Tensor, DelayState]:
        if state is None:
            state = self.initial_state(x)
        else:
            self._check(state, x)
        full = torch.cat([state.history, x.unsqueeze(0)])  # (D+1, B, ...)
        out = self._gather(full, self.max_steps, 1)[0]
        return out, DelayState(full[1:])


class Delay(_DelayBase):
    """Delay line over a time-major sequence ``(T, B, ...)``."""

    is_sequence: ClassVar[bool] = True

    def forward(self, x: Tensor, state: DelayState | None = None) -> tuple[Tensor, DelayState]:
        if x.dim() < 2:
            raise ShapeError(f"Delay: expected time-major input of shape (T, B, ...), got {tuple(x.shape)}")
        if state is None:
            state = self.initial_state(x[0])
        else:
            self._check(state, x[0])
        full = torch.cat([state.history, x])  # (D+T, B, ...)
        out = self._gather(full, self.max_steps, x.shape[0])
        return out, DelayState(full[full.shape[0] - self.max_steps:])
