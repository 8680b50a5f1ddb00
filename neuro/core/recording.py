"""Scoped recording of neuron outputs and states, used by :func:`neuro.simulate`.

A :class:`Recorder` is installed in a context variable for the duration of one simulation; neuron
modules look it up and, if they are among the modules to record, hand it their outputs and states.
Nothing is stored on the modules themselves. :func:`observed` says whether anything watches given
modules (a recorder or forward hooks, e.g. :func:`neuro.analysis.count_ops`): a fused layer then runs
its parts as themselves so the observers see every call.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator, Mapping
from typing import Any

import torch
from torch import Tensor, nn

__all__ = ["Recorder", "current_recorder", "observed", "recording"]


class Recorder:
    """Collects ``"<module name>.<field>"`` tensors, each stacked over time into ``(T, B, ...)``."""

    def __init__(self, modules: Mapping[str, nn.Module]) -> None:
        self._names = {id(m): name for name, m in modules.items()}
        self._steps: dict[str, list[Tensor]] = {}
        self._sequences: dict[str, Tensor] = {}

    def wants(self, module: nn.Module) -> bool:
        return id(module) in self._names

    def _fields(self, module: nn.Module, out: Tensor, state: Any) -> Iterator[tuple[str, Tensor]]:
        name = self._names[id(module)]
        yield f"{name}.{getattr(module, 'output_name', 'output')}", out
        for field, value in zip(type(state)._fields, state, strict=True):
            yield f"{name}.{field}", value

    def put_step(self, module: nn.Module, out: Tensor, state: Any) -> None:
        """Record one time step (from a single-step cell)."""
        if self.wants(module):
            for key, value in self._fields(module, out, state):
                self._steps.setdefault(key, []).append(value.detach())

    def put_sequence(self, module: nn.Module, out: Tensor, states: Any) -> None:
        """Record a whole sequence (from a multi-step module); tensors are already ``(T, ...)``."""
        if self.wants(module):
            for key, value in self._fields(module, out, states):
                self._sequences[key] = value.detach()

    def result(self) -> dict[str, Tensor]:
        out = {key: torch.stack(values) for key, values in self._steps.items()}
        out.update(self._sequences)
        return out


_current: contextvars.ContextVar[Recorder | None] = contextvars.ContextVar("neuro_recorder", default=None)


def current_recorder() -> Recorder | None:
    """The recorder of the enclosing :func:`recording` block, if any."""
    return _current.get()


@contextlib.contextmanager
def recording(recorder: Recorder) -> Iterator[Recorder]:
    token = _current.set(recorder)
    try:
        yield recorder
    finally:
        _current.reset(token)


def observed(*modules: nn.Module | None) -> bool:
    """Whether the current recorder wants any of ``modules`` or a forward (pre-)hook is registered on one."""
    rec = current_recorder()
    return any(m is not None and ((rec is not None and rec.wants(m)) or bool(m._forward_hooks)
                                  or bool(m._forward_pre_hooks)) for m in modules)
