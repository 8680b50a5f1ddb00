"""The one time loop: :func:`simulate` runs any neuro model over a time-major input.

Example:
    >>> import torch
    >>> from neuro import LIF, Sequential
    >>> net = Sequential(torch.nn.Linear(2, 3), LIF())
    >>> trace = simulate(net, torch.rand(20, 4, 2), record=["1"])
    >>> trace["1.spikes"].shape, trace["1.v"].shape
    (torch.Size([20, 4, 3]), torch.Size([20, 4, 3]))
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from neuro.core.recording import Recorder, recording
from neuro.core.sequential import is_stateful
from neuro.errors import ShapeError, UnknownNameError

__all__ = ["Trace", "simulate"]


@dataclass(frozen=True)
class Trace:
    """What a simulation produced.

    Attributes:
        output: the model's output, ``(T, B, ...)``.
        state: the final state (pass it back to ``simulate`` to continue the simulation).
        records: ``"<module>.<field>"`` -> ``(T, B, ...)`` tensor for every recorded module, e.g.
            ``"1.spikes"`` and ``"1.v"``.
    """

    output: Tensor
    state: Any
    records: Mapping[str, Tensor] = field(default_factory=dict)

    def __getitem__(self, key: str) -> Tensor:
        try:
            return self.records[key]
        except KeyError:
            raise UnknownNameError(f"no record {key!r}; recorded: {', '.join(sorted(self.records)) or 'none'}"
                                   ) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self.records)


def _recordable(model: nn.Module) -> dict[str, nn.Module]:
    return {name or type(model).__name__: m for name, m in model.named_modules() if hasattr(m, "State")}


def _select(model: nn.Module, record: bool | Iterable[str]) -> dict[str, nn.Module]:
    candidates = _recordable(model)
    if record is True:
        return candidates
    if record is False or record is None:
        return {}
    if isinstance(record, str):
        record = [record]
    chosen = {}
    for name in record:
        if name not in candidates:
            raise UnknownNameError(f"cannot record {name!r}: not a neuron of the model; neurons: "
                                   f"{', '.join(candidates) or 'none'}")
        chosen[name] = candidates[name]
    return chosen


def simulate(model: nn.Module, x: Tensor, state: Any = None,
             record: bool | Iterable[str] = ()) -> Trace:
    """Run ``model`` over the time-major input ``x`` of shape ``(T, B, ...)``.

    Sequence models (``LIF``, a ``Sequential`` of them, anything with ``is_sequence = True``) are
    called once on the whole input; single-step models (``LIFCell``, a ``Sequential`` of cells, a
    custom module declaring ``is_sequence = False``) are stepped over ``x.unbind(0)``.

    Args:
        model: a neuro module, or any module following ``forward(x, state=None) -> (out, state)``.
        x: input of shape ``(T, B, ...)``.
        state: initial state (``None``: the model's resting state).
        record: names of neuron sub-modules (as in ``model.named_modules()``) whose outputs and
            state variables to record over time, or ``True`` for all of them.

    Returns:
        A :class:`Trace`.
    """
    if not isinstance(x, Tensor) or x.dim() < 2:
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ShapeError(f"simulate: expected a time-major tensor of shape (T, B, ...), got {shape}")
    recorder = Recorder(_select(model, record))
    stateful = is_stateful(model)
    with recording(recorder):
        if getattr(model, "is_sequence", True):
            out, state = model(x, state) if stateful else (model(x), state)
        else:
            outs = []
            for x_t in x.unbind(0):
                out_t, state = model(x_t, state)
                outs.append(out_t)
            out = torch.stack(outs)
    return Trace(out, state, recorder.result())
