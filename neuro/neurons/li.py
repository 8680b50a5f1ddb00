r"""Leaky integrator (NIR ``LI``): a non-spiking readout whose output is its membrane.

.. math:: v_t = v_{t-1} + \alpha\,(v_{leak} - v_{t-1}) + g\,x_t

with :math:`\alpha = dt/\tau_{mem}` and :math:`g = \alpha r` (``decay_input``) or :math:`g = r`.

Example:
    >>> import torch
    >>> v, state = LI(tau_mem=2e-3, decay_input=False)(torch.ones(3, 1))
    >>> v.flatten().tolist()
    [1.0, 1.5, 1.75]
"""

from __future__ import annotations

from typing import NamedTuple

from torch import Tensor

from neuro.neurons.base import CellForward, NeuronModule, SequenceForward

__all__ = ["LI", "LICell", "LIParameters", "LIState", "li_step"]


class LIParameters(NamedTuple):
    tau_mem: Tensor | float = 10e-3
    v_leak: Tensor | float = 0.0
    r: Tensor | float = 1.0
    dt: float = 1e-3
    decay_input: bool = True


class LIState(NamedTuple):
    v: Tensor


def li_step(x: Tensor, state: LIState, p: LIParameters) -> tuple[Tensor, LIState]:
    """One Euler step of the leaky integrator; the output is the new membrane."""
    alpha = p.dt / p.tau_mem
    gain = alpha * p.r if p.decay_input else p.r
    v = (1.0 - alpha) * state.v + alpha * p.v_leak + gain * x
    return v, LIState(v)


class _LIBase(NeuronModule):
    kind = "li"
    State = LIState
    step = staticmethod(li_step)
    rest = (("v", "v_leak"),)
    output_name = "output"

    def __init__(self, tau_mem: Tensor | float = 10e-3, v_leak: Tensor | float = 0.0, r: Tensor | float = 1.0,
                 dt: float = 1e-3, decay_input: bool = True, learn_tau: bool = False) -> None:
        super().__init__()
        self._set("tau_mem", tau_mem, learn_tau)
        self._set("v_leak", v_leak)
        self._set("r", r)
        self.dt = float(dt)
        self.decay_input = bool(decay_input)

    def params(self) -> LIParameters:
        return LIParameters(self.tau_mem, self.v_leak, self.r, self.dt, self.decay_input)


class LICell(CellForward, _LIBase):
    """One leaky-integrator step; input ``(B, ...)``."""


class LI(SequenceForward, _LIBase):
    """Leaky integrator over a time-major sequence ``(T, B, ...)``; returns the membrane trace."""
