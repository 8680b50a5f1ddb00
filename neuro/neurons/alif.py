r"""Adaptive LIF (ALIF): a LIF neuron whose threshold rises with each spike (Bellec et al. 2018).

.. math::

    h_t &= v_{t-1} + \alpha (v_{leak} - v_{t-1}) + g\,x_t, \qquad
    \theta_t = v_{th} + \beta_a\, a_{t-1}, \qquad s_t = \Theta(h_t - \theta_t) \\
    v_t &= \mathrm{reset}(h_t, s_t; \theta_t), \qquad
    a_t = a_{t-1} - \frac{dt}{\tau_{adapt}}\, a_{t-1} + s_t

``a`` is the adaptation variable (each spike adds 1, decaying with ``tau_adapt``); ``beta_adapt``
converts it into a threshold increase. Subtractive resets subtract the adapted threshold
:math:`\theta_t`. Symbols as in :mod:`neuro.neurons.lif`.

Example:
    >>> import torch
    >>> spikes, state = ALIF(tau_mem=1e9, decay_input=False, beta_adapt=1.0, tau_adapt=1e9)(
    ...     torch.full((4, 1), 0.6))
    >>> spikes.flatten().tolist()          # the threshold is 1, then 2 after the first spike
    [0.0, 1.0, 0.0, 0.0]
"""

from __future__ import annotations

from typing import NamedTuple

from torch import Tensor

from neuro.core.reset import HardReset, ResetRule
from neuro.core.surrogate import ATan, Surrogate
from neuro.neurons.base import CellForward, NeuronModule, SequenceForward

__all__ = ["ALIF", "ALIFCell", "ALIFParameters", "ALIFState", "alif_step"]


class ALIFParameters(NamedTuple):
    tau_mem: Tensor | float = 20e-3
    tau_adapt: Tensor | float = 200e-3
    beta_adapt: Tensor | float = 1.8
    v_threshold: Tensor | float = 1.0
    v_reset: Tensor | float = 0.0
    v_leak: Tensor | float = 0.0
    r: Tensor | float = 1.0
    dt: float = 1e-3
    decay_input: bool = True
    reset: ResetRule = HardReset()
    detach_reset: bool = False
    surrogate: Surrogate = ATan()


class ALIFState(NamedTuple):
    v: Tensor
    a: Tensor


def alif_step(x: Tensor, state: ALIFState, p: ALIFParameters) -> tuple[Tensor, ALIFState]:
    """One Euler step of the adaptive LIF neuron."""
    alpha = p.dt / p.tau_mem
    gain = alpha * p.r if p.decay_input else p.r
    h = (1.0 - alpha) * state.v + alpha * p.v_leak + gain * x
    theta = p.v_threshold + p.beta_adapt * state.a
    s = p.surrogate(h - theta)
    v = p.reset(h, s.detach() if p.detach_reset else s, theta, p.v_reset)
    a = (1.0 - p.dt / p.tau_adapt) * state.a + s
    return s, ALIFState(v, a)


class _ALIFBase(NeuronModule):
    kind = "alif"
    State = ALIFState
    step = staticmethod(alif_step)
    rest = (("v", "v_leak"),)

    def __init__(self, tau_mem: Tensor | float = 20e-3, tau_adapt: Tensor | float = 200e-3,
                 beta_adapt: Tensor | float = 1.8, v_threshold: Tensor | float = 1.0,
                 v_reset: Tensor | float = 0.0, v_leak: Tensor | float = 0.0, r: Tensor | float = 1.0,
                 dt: float = 1e-3, decay_input: bool = True, reset: ResetRule | str = "hard",
                 detach_reset: bool = False, surrogate: Surrogate | str = "atan",
                 learn_threshold: bool = False, learn_tau: bool = False) -> None:
        super().__init__()
        self._set("tau_mem", tau_mem, learn_tau)
        self._set("tau_adapt", tau_adapt, learn_tau)
        self._set("beta_adapt", beta_adapt)
        self._set("v_threshold", v_threshold, learn_threshold)
        self._set("v_reset", v_reset)
        self._set("v_leak", v_leak)
        self._set("r", r)
        self.dt = float(dt)
        self.decay_input = bool(decay_input)
        self._set_options(reset, surrogate, detach_reset)
        if self.reset.delayed:
            raise ValueError(f"{type(self).__name__}: delayed resets are only supported by LIF and CubaLIF")

    def params(self) -> ALIFParameters:
        return ALIFParameters(self.tau_mem, self.tau_adapt, self.beta_adapt, self.v_threshold, self.v_reset,
                              self.v_leak, self.r, self.dt, self.decay_input, self.reset, self.detach_reset,
                              self.surrogate)


class ALIFCell(CellForward, _ALIFBase):
    """One adaptive-LIF step; input ``(B, ...)``."""


class ALIF(SequenceForward, _ALIFBase):
    """Adaptive LIF over a time-major sequence ``(T, B, ...)``."""
