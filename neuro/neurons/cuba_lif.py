r"""Current-based LIF (NIR ``CubaLIF``): a synaptic current filters the input before the membrane.

NIR's equations :math:`\tau_{syn}\dot I = -I + w_{in} S` and
:math:`\tau_{mem}\dot v = (v_{leak} - v) + r I`, integrated with forward Euler; the current is
updated first and drives the membrane in the same step (snnTorch ``Synaptic`` ordering):

.. math::

    i_t &= i_{t-1} - \frac{dt}{\tau_{syn}} i_{t-1} + g_{syn}\,x_t \\
    h_t &= v_{t-1} + \frac{dt}{\tau_{mem}} (v_{leak} - v_{t-1}) + g_{mem}\, i_t, \quad
    s_t = \Theta(h_t - v_{th}), \quad v_t = \mathrm{reset}(h_t, s_t)

with :math:`g_{syn} = w_{in}\,dt/\tau_{syn}` and :math:`g_{mem} = r\,dt/\tau_{mem}` when
``decay_input`` (NIR), else :math:`g_{syn} = w_{in}` and :math:`g_{mem} = r` (snnTorch
``Synaptic(alpha, beta)`` with ``tau_syn = dt/(1-alpha)``, ``tau_mem = dt/(1-beta)``).

Example:
    >>> import torch
    >>> x = torch.tensor([[1.0], [0.0], [0.0]])
    >>> cell = CubaLIF(tau_syn=2e-3, tau_mem=2e-3, decay_input=False, v_threshold=10.0)
    >>> _ = cell(x)  # i: 1, 0.5, 0.25; v: 1, 1.0, 0.75
"""

from __future__ import annotations

from typing import NamedTuple

from torch import Tensor

from neuro.core.reset import HardReset, ResetRule
from neuro.core.surrogate import ATan, Surrogate
from neuro.neurons.base import CellForward, NeuronModule, SequenceForward
from neuro.neurons.lif import fire_and_reset, lif_charge

__all__ = ["CubaLIF", "CubaLIFCell", "CubaLIFParameters", "CubaLIFState", "cuba_lif_step"]


class CubaLIFParameters(NamedTuple):
    tau_syn: Tensor | float = 5e-3
    tau_mem: Tensor | float = 10e-3
    v_threshold: Tensor | float = 1.0
    v_reset: Tensor | float = 0.0
    v_leak: Tensor | float = 0.0
    r: Tensor | float = 1.0
    w_in: Tensor | float = 1.0
    dt: float = 1e-3
    decay_input: bool = True
    reset: ResetRule = HardReset()
    detach_reset: bool = False
    surrogate: Surrogate = ATan()


class CubaLIFState(NamedTuple):
    v: Tensor
    i: Tensor


def cuba_lif_step(x: Tensor, state: CubaLIFState, p: CubaLIFParameters) -> tuple[Tensor, CubaLIFState]:
    """One Euler step of the current-based LIF neuron."""
    beta = p.dt / p.tau_syn
    gain = beta * p.w_in if p.decay_input else p.w_in
    i = (1.0 - beta) * state.i + gain * x
    s, v = fire_and_reset(lif_charge(state.v, i, p), p)
    return s, CubaLIFState(v, i)


class _CubaLIFBase(NeuronModule):
    kind = "cuba_lif"
    State = CubaLIFState
    step = staticmethod(cuba_lif_step)
    rest = (("v", "v_leak"),)

    def __init__(self, tau_syn: Tensor | float = 5e-3, tau_mem: Tensor | float = 10e-3,
                 v_threshold: Tensor | float = 1.0, v_reset: Tensor | float = 0.0, v_leak: Tensor | float = 0.0,
                 r: Tensor | float = 1.0, w_in: Tensor | float = 1.0, dt: float = 1e-3,
                 decay_input: bool = True, reset: ResetRule | str = "hard", detach_reset: bool = False,
                 surrogate: Surrogate | str = "atan", learn_threshold: bool = False,
                 learn_tau: bool = False) -> None:
        super().__init__()
        self._set("tau_syn", tau_syn, learn_tau)
        self._set("tau_mem", tau_mem, learn_tau)
        self._set("v_threshold", v_threshold, learn_threshold)
        self._set("v_reset", v_reset)
        self._set("v_leak", v_leak)
        self._set("r", r)
        self._set("w_in", w_in)
        self.dt = float(dt)
        self.decay_input = bool(decay_input)
        self._set_options(reset, surrogate, detach_reset)

    def params(self) -> CubaLIFParameters:
        return CubaLIFParameters(self.tau_syn, self.tau_mem, self.v_threshold, self.v_reset, self.v_leak, self.r,
                                 self.w_in, self.dt, self.decay_input, self.reset, self.detach_reset,
                                 self.surrogate)


class CubaLIFCell(CellForward, _CubaLIFBase):
    """One current-based LIF step; input ``(B, ...)``."""


class CubaLIF(SequenceForward, _CubaLIFBase):
    """Current-based LIF over a time-major sequence ``(T, B, ...)``."""
