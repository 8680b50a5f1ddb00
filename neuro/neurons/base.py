"""Shared machinery of the neuron modules.

Every neuron model is a parameters ``NamedTuple``, a state ``NamedTuple`` and a pure step function
``step(x, state, params) -> (out, state)``; this module turns such a triple into two thin
``torch.nn`` modules: ``XCell`` (one time step, input ``(B, ...)``) and ``X`` (a whole sequence,
input ``(T, B, ...)``), both with ``forward(x, state=None) -> (out, state)``.

Subclasses set ``kind`` (the registry name), ``State`` and ``step`` and implement ``params()``;
scalar constants are stored as floats, learnable ones as ``nn.Parameter`` and per-neuron tensors as
buffers (see :meth:`NeuronModule._set`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, NamedTuple

import torch
from torch import Tensor, nn

from neuro import backends
from neuro.core.recording import current_recorder
from neuro.core.reset import ResetRule, resolve_reset
from neuro.core.surrogate import Surrogate, resolve_surrogate
from neuro.errors import ShapeError

__all__ = ["CellForward", "NeuronModule", "SequenceForward"]


class NeuronModule(nn.Module):
    """Base class; see the module docstring."""

    kind: ClassVar[str] = ""
    State: ClassVar[type] = tuple
    step: ClassVar[Callable[..., tuple[Tensor, Any]]]
    is_sequence: ClassVar[bool] = False
    stateful: ClassVar[bool] = True
    output_name: ClassVar[str] = "spikes"
    rest: ClassVar[tuple[tuple[str, str], ...]] = ()

    def __init__(self) -> None:
        super().__init__()
        self._initial: dict[str, Tensor | float] = {}
        self._learnable: dict[str, bool] = {}

    # -- parameter storage ------------------------------------------------------------------
    def _set(self, name: str, value: Tensor | float, learnable: bool = False) -> None:
        """Store a constant (float), a learnable ``nn.Parameter`` or a per-neuron buffer."""
        if isinstance(value, bool) or not isinstance(value, int | float | Tensor):
            raise TypeError(f"{type(self).__name__}: {name} must be a number or a tensor, got {value!r}")
        self._initial[name] = value.detach().clone() if isinstance(value, Tensor) else float(value)
        self._learnable[name] = learnable
        if learnable:
            self.register_parameter(name, nn.Parameter(torch.as_tensor(value, dtype=torch.get_default_dtype())
                                                        .detach().clone()))
        elif isinstance(value, Tensor):
            self.register_buffer(name, value.detach().clone())
        else:
            setattr(self, name, float(value))

    def _set_options(self, reset: ResetRule | str | dict, surrogate: Surrogate | str | dict,
                     detach_reset: bool) -> None:
        self.reset = resolve_reset(reset)
        self.surrogate = resolve_surrogate(surrogate)
        self.detach_reset = bool(detach_reset)

    def reset_parameters(self) -> None:
        """Restore every learnable or tensor-valued parameter to its constructor value."""
        with torch.no_grad():
            for name, value in self._initial.items():
                current = getattr(self, name)
                if isinstance(current, Tensor):
                    current.copy_(torch.as_tensor(value, dtype=current.dtype))

    def params(self) -> NamedTuple:  # pragma: no cover - abstract
        """The parameters ``NamedTuple`` passed to the step function."""
        raise NotImplementedError

    def extra_repr(self) -> str:
        parts = []
        for name in self._initial:
            value = getattr(self, name)
            if isinstance(value, Tensor):
                shown = f"{value.item():g}" if value.numel() == 1 else f"tensor{tuple(value.shape)}"
            else:
                shown = f"{value:g}"
            parts.append(f"{name}={shown}{' (learnable)' if self._learnable[name] else ''}")
        for name in ("reset", "surrogate"):
            if hasattr(self, name):
                parts.append(f"{name}={getattr(self, name)!r}")
        if getattr(self, "detach_reset", False):
            parts.append("detach_reset=True")
        return ", ".join(parts)

    # -- state --------------------------------------------------------------------------------
    def initial_state(self, x: Tensor) -> Any:
        """The resting state for one time step of input ``x`` (shape ``(B, ...)``).

        Zeros, except the state fields named in ``rest`` (pairs like ``("v", "v_leak")``), which start
        at that parameter's value.
        """
        fields = []
        rest_of = dict(self.rest)
        for field in self.State._fields:
            rest = getattr(self, rest_of[field]) if field in rest_of else 0.0
            if isinstance(rest, Tensor):
                fields.append(torch.zeros_like(x) + rest.detach())
            else:
                fields.append(torch.full_like(x, rest))  # one pass, in x's memory layout
        return self.State(*fields)

    def _check_state(self, state: Any, x: Tensor) -> None:
        if not isinstance(state, self.State):
            raise ShapeError(f"{type(self).__name__}: state must be a {self.State.__name__}, "
                             f"got {type(state).__name__}")
        for field, value in zip(self.State._fields, state, strict=True):
            if value.shape != x.shape:
                raise ShapeError(f"{type(self).__name__}: state.{field} has shape {tuple(value.shape)} "
                                 f"but one time step of the input has shape {tuple(x.shape)}")


class CellForward:
    """``forward`` of a single-step module: ``x`` is ``(B, ...)``."""

    is_sequence: ClassVar[bool] = False

    def forward(self: Any, x: Tensor, state: Any = None) -> tuple[Tensor, Any]:
        if x.dim() < 1:
            raise ShapeError(f"{type(self).__name__}: expected input of shape (B, ...), got a scalar")
        if state is None:
            state = self.initial_state(x)
        else:
            self._check_state(state, x)
        out, state = type(self).step(x, state, self.params())
        rec = current_recorder()
        if rec is not None:
            rec.put_step(self, out, state)
        return out, state


class SequenceForward:
    """``forward`` of a multi-step module: ``x`` is time-major ``(T, B, ...)``."""

    is_sequence: ClassVar[bool] = True

    def forward(self: Any, x: Tensor, state: Any = None) -> tuple[Tensor, Any]:
        if x.dim() < 2:
            raise ShapeError(f"{type(self).__name__}: expected time-major input of shape (T, B, ...), "
                             f"got shape {tuple(x.shape)}")
        if state is None:
            state = self.initial_state(x[0].detach())
        else:
            self._check_state(state, x[0])
        params = self.params()
        rec = current_recorder()
        record = rec is not None and rec.wants(self)
        step = type(self).step
        _, fn = backends.resolve(self.kind, step, x, state, params, fallback="sequence")
        out, state, states = fn(step, x, state, params, record)
        if record:
            rec.put_sequence(self, out, states)
        return out, state
