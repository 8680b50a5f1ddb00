r"""Leaky integrate-and-fire neuron.

NIR's LIF, :math:`\tau_{mem}\,\dot v = (v_{leak} - v) + r\,I`, integrated with forward Euler at
step ``dt`` (seconds). With :math:`\alpha = dt/\tau_{mem}`, one step is

.. math::

    h_t = v_{t-1} + \alpha\,(v_{leak} - v_{t-1}) + g\,x_t,\qquad
    s_t = \Theta(h_t - v_{th}),\qquad v_t = \mathrm{reset}(h_t, s_t)

with input gain :math:`g = \alpha r` when ``decay_input`` (NIR, SpikingJelly's default) and
:math:`g = r` otherwise (snnTorch, Norse-style "current added directly").

Matching the peers:

* SpikingJelly ``LIFNode(tau, decay_input, v_threshold, v_reset, detach_reset)``:
  ``tau_mem = tau * dt``, same ``decay_input``, ``v_leak = v_reset`` (0 for soft reset),
  ``reset="hard"`` (or ``"subtract"`` when ``v_reset=None``). See :meth:`LIF.from_spikingjelly`.
* snnTorch ``Leaky(beta, threshold, reset_mechanism)``: ``tau_mem = dt / (1 - beta)``,
  ``decay_input=False``, ``reset=<mechanism>(delayed=True)``, ``detach_reset=True``. See
  :meth:`LIF.from_snntorch`.

Example:
    >>> import torch
    >>> lif = LIF(tau_mem=2e-3, dt=1e-3)          # alpha = 0.5, like SpikingJelly's tau = 2
    >>> spikes, state = lif(torch.full((3, 1, 1), 2.0))
    >>> spikes.flatten().tolist()
    [1.0, 1.0, 1.0]
"""

from __future__ import annotations

from typing import NamedTuple

from torch import Tensor

from neuro.core.reset import HardReset, ResetRule, resolve_reset
from neuro.core.surrogate import ATan, Surrogate, heaviside
from neuro.neurons.base import CellForward, NeuronModule, SequenceForward

__all__ = ["LIF", "LIFCell", "LIFParameters", "LIFState", "lif_step"]


class LIFParameters(NamedTuple):
    tau_mem: Tensor | float = 2e-3
    v_threshold: Tensor | float = 1.0
    v_reset: Tensor | float = 0.0
    v_leak: Tensor | float = 0.0
    r: Tensor | float = 1.0
    dt: float = 1e-3
    decay_input: bool = True
    reset: ResetRule = HardReset()
    detach_reset: bool = False
    surrogate: Surrogate = ATan()


class LIFState(NamedTuple):
    v: Tensor


def lif_charge(v: Tensor, x: Tensor, p: LIFParameters) -> Tensor:
    """The charged membrane ``h`` before firing (delayed resets applied)."""
    alpha = p.dt / p.tau_mem
    gain = alpha * p.r if p.decay_input else p.r
    if p.reset.delayed:
        s_prev = heaviside(v.detach() - p.v_threshold)
        v, after = p.reset.pending(v, s_prev, p.v_threshold, p.v_reset)
        return (1.0 - alpha) * v + alpha * p.v_leak + gain * x + after
    # written as a decay factor times v so that, with alpha = 1 - beta, it rounds exactly like beta * v + x
    return (1.0 - alpha) * v + alpha * p.v_leak + gain * x


def fire_and_reset(h: Tensor, p: NamedTuple) -> tuple[Tensor, Tensor]:
    """Spikes of the charged membrane ``h`` and the state after the (immediate) reset."""
    s = p.surrogate(h - p.v_threshold)
    if p.reset.delayed:
        return s, h
    return s, p.reset(h, s.detach() if p.detach_reset else s, p.v_threshold, p.v_reset)


def lif_step(x: Tensor, state: LIFState, p: LIFParameters) -> tuple[Tensor, LIFState]:
    """One Euler step of the LIF neuron; pure function of input, state and parameters."""
    s, v = fire_and_reset(lif_charge(state.v, x, p), p)
    return s, LIFState(v)


class _LIFBase(NeuronModule):
    kind = "lif"
    State = LIFState
    step = staticmethod(lif_step)
    rest = (("v", "v_leak"),)

    def __init__(
        self,
        tau_mem: Tensor | float = 2e-3,
        v_threshold: Tensor | float = 1.0,
        v_reset: Tensor | float = 0.0,
        v_leak: Tensor | float = 0.0,
        r: Tensor | float = 1.0,
        dt: float = 1e-3,
        decay_input: bool = True,
        reset: ResetRule | str = "hard",
        detach_reset: bool = False,
        surrogate: Surrogate | str = "atan",
        learn_threshold: bool = False,
        learn_tau: bool = False,
    ) -> None:
        super().__init__()
        if not dt > 0:
            raise ValueError(f"{type(self).__name__}: dt must be > 0 seconds, got {dt!r}")
        if not isinstance(tau_mem, Tensor) and not tau_mem > 0:
            raise ValueError(f"{type(self).__name__}: tau_mem must be > 0 seconds, got {tau_mem!r}")
        self._set("tau_mem", tau_mem, learn_tau)
        self._set("v_threshold", v_threshold, learn_threshold)
        self._set("v_reset", v_reset)
        self._set("v_leak", v_leak)
        self._set("r", r)
        self.dt = float(dt)
        self.decay_input = bool(decay_input)
        self._set_options(reset, surrogate, detach_reset)

    def params(self) -> LIFParameters:
        return LIFParameters(self.tau_mem, self.v_threshold, self.v_reset, self.v_leak, self.r, self.dt,
                             self.decay_input, self.reset, self.detach_reset, self.surrogate)

    @classmethod
    def from_snntorch(cls, beta: float, threshold: float = 1.0, reset_mechanism: str = "subtract",
                      dt: float = 1e-3, **kwargs):
        """The equivalent of snnTorch ``Leaky(beta, threshold, reset_mechanism)`` (default timing)."""
        names = {"subtract": "subtract", "zero": "hard", "none": "none"}
        if reset_mechanism not in names:
            raise ValueError(f"{cls.__name__}.from_snntorch: reset_mechanism must be one of "
                             f"{sorted(names)}, got {reset_mechanism!r}")
        if not 0 <= beta < 1:
            raise ValueError(f"{cls.__name__}.from_snntorch: beta must be in [0, 1), got {beta!r}")
        kwargs.setdefault("surrogate", "atan")
        return cls(tau_mem=dt / (1.0 - beta), v_threshold=threshold, v_reset=0.0, dt=dt, decay_input=False,
                   reset=resolve_reset({"name": names[reset_mechanism], "delayed": True}),
                   detach_reset=True, **kwargs)

    @classmethod
    def from_spikingjelly(cls, tau: float = 2.0, decay_input: bool = True, v_threshold: float = 1.0,
                          v_reset: float | None = 0.0, detach_reset: bool = False, dt: float = 1e-3,
                          **kwargs):
        """The equivalent of SpikingJelly ``LIFNode`` (``tau`` in time steps)."""
        kwargs.setdefault("surrogate", "sigmoid")
        leak = 0.0 if v_reset is None else v_reset
        return cls(tau_mem=tau * dt, v_threshold=v_threshold, v_reset=leak, v_leak=leak, dt=dt,
                   decay_input=decay_input, reset="subtract" if v_reset is None else "hard",
                   detach_reset=detach_reset, **kwargs)


class LIFCell(CellForward, _LIFBase):
    """One LIF time step; input ``(B, ...)``. See the module docstring for the equations."""


class LIF(SequenceForward, _LIFBase):
    """LIF over a whole time-major sequence ``(T, B, ...)``; see the module docstring."""
