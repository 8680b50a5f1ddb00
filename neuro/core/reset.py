r"""Reset rules: what happens to the membrane after a spike.

A rule is a small frozen object applied as ``v = rule(h, s, v_threshold, v_reset)`` where ``h`` is
the charged (pre-reset) membrane and ``s`` the spikes of this step:

* :class:`HardReset` — :math:`v = (1-s)\,h + s\,v_{reset}` (SpikingJelly ``v_reset=0.0``, snnTorch
  ``"zero"``, NIR's reset);
* :class:`SubtractReset` — :math:`v = h - s\,v_{th}` (SpikingJelly ``v_reset=None``, snnTorch
  ``"subtract"``);
* :class:`NoReset` — :math:`v = h`.

``delayed=True`` reproduces snnTorch's default timing (``reset_delay=True``): the stored state is
the *pre-reset* membrane and the reset of step *t* is applied at step *t + 1*, recomputed from the
stored membrane and detached. For subtraction this means the subtracted threshold is not decayed,
which is how snnTorch ``Leaky(reset_mechanism="subtract")`` behaves.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from torch import Tensor

from neuro.config import resolve_named

__all__ = ["RESETS", "HardReset", "NoReset", "ResetRule", "SubtractReset", "resolve_reset"]


@dataclass(frozen=True)
class ResetRule:
    """Base class of reset rules."""

    delayed: bool = False
    name: ClassVar[str] = ""

    def __call__(self, h: Tensor, s: Tensor, v_threshold: Tensor | float, v_reset: Tensor | float) -> Tensor:
        raise NotImplementedError  # pragma: no cover - abstract

    def pending(self, v: Tensor, s_prev: Tensor, v_threshold: Tensor | float,
                v_reset: Tensor | float) -> tuple[Tensor, Tensor | float]:
        """For delayed rules: (membrane to decay, term added after decay) given last step's spikes."""
        raise NotImplementedError  # pragma: no cover - abstract


@dataclass(frozen=True)
class HardReset(ResetRule):
    """Set the membrane to ``v_reset`` where a spike occurred."""

    name: ClassVar[str] = "hard"

    def __call__(self, h, s, v_threshold, v_reset):
        return (1.0 - s) * h + s * v_reset

    def pending(self, v, s_prev, v_threshold, v_reset):
        return (1.0 - s_prev) * v + s_prev * v_reset, 0.0


@dataclass(frozen=True)
class SubtractReset(ResetRule):
    """Subtract the threshold where a spike occurred ("soft" reset)."""

    name: ClassVar[str] = "subtract"

    def __call__(self, h, s, v_threshold, v_reset):
        return h - s * v_threshold

    def pending(self, v, s_prev, v_threshold, v_reset):
        return v, -s_prev * v_threshold


@dataclass(frozen=True)
class NoReset(ResetRule):
    """Never reset (pure integration)."""

    name: ClassVar[str] = "none"

    def __call__(self, h, s, v_threshold, v_reset):
        return h

    def pending(self, v, s_prev, v_threshold, v_reset):
        return v, 0.0


RESETS: dict[str, type[ResetRule]] = {"hard": HardReset, "subtract": SubtractReset, "none": NoReset}


def resolve_reset(spec: ResetRule | str | Mapping[str, Any]) -> ResetRule:
    """Turn ``HardReset()``, ``"hard"`` or ``{"name": "subtract", "delayed": true}`` into a rule."""
    return resolve_named(spec, ResetRule, RESETS, "reset rule")
