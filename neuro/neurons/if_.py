r"""Integrate-and-fire neuron (no leak).

.. math:: h_t = v_{t-1} + r\,x_t,\qquad s_t = \Theta(h_t - v_{th}),\qquad v_t = \mathrm{reset}(h_t, s_t)

``r`` is the per-step input gain (SpikingJelly ``IFNode`` with ``r = 1``). NIR's IF is
:math:`\dot v = R\,I`; exported with ``R = r / dt``.

Example:
    >>> import torch
    >>> spikes, state = IF(v_threshold=1.0)(torch.full((4, 1), 0.5))
    >>> spikes.flatten().tolist()
    [0.0, 1.0, 0.0, 1.0]
"""

from __future__ import annotations

from typing import NamedTuple

from torch import Tensor

from neuro.core.reset import HardReset, ResetRule
from neuro.core.surrogate import ATan, Surrogate
from neuro.neurons.base import CellForward, NeuronModule, SequenceForward
from neuro.neurons.lif import fire_and_reset

__all__ = ["IF", "IFCell", "IFParameters", "IFState", "if_step"]


class IFParameters(NamedTuple):
    v_threshold: Tensor | float = 1.0
    v_reset: Tensor | float = 0.0
    r: Tensor | float = 1.0
    dt: float = 1e-3
    reset: ResetRule = HardReset()
    detach_reset: bool = False
    surrogate: Surrogate = ATan()


class IFState(NamedTuple):
    v: Tensor


def if_step(x: Tensor, state: IFState, p: IFParameters) -> tuple[Tensor, IFState]:
    """One step of the integrate-and-fire neuron (immediate resets only)."""
    s, v = fire_and_reset(state.v + p.r * x, p)
    return s, IFState(v)


class _IFBase(NeuronModule):
    kind = "if"
    State = IFState
    step = staticmethod(if_step)
    rest = (("v", "v_reset"),)

    def __init__(self, v_threshold: Tensor | float = 1.0, v_reset: Tensor | float = 0.0, r: Tensor | float = 1.0,
                 dt: float = 1e-3, reset: ResetRule | str = "hard", detach_reset: bool = False,
                 surrogate: Surrogate | str = "atan", learn_threshold: bool = False) -> None:
        super().__init__()
        self._set("v_threshold", v_threshold, learn_threshold)
        self._set("v_reset", v_reset)
        self._set("r", r)
        self.dt = float(dt)
        self._set_options(reset, surrogate, detach_reset)
        if self.reset.delayed:
            raise ValueError(f"{type(self).__name__}: delayed resets are only supported by LIF and CubaLIF")

    def params(self) -> IFParameters:
        return IFParameters(self.v_threshold, self.v_reset, self.r, self.dt, self.reset, self.detach_reset,
                            self.surrogate)


class IFCell(CellForward, _IFBase):
    """One integrate-and-fire step; input ``(B, ...)``."""


class IF(SequenceForward, _IFBase):
    """Integrate-and-fire over a time-major sequence ``(T, B, ...)``."""
