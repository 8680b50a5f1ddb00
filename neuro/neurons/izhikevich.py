r"""Izhikevich (2003) neuron, in its native units (mV, ms).

.. math::

    v' &= v + dt\,(0.04 v^2 + 5 v + 140 - u + r x) \quad\text{(two half steps, as in the paper's code)} \\
    u' &= u + dt\, a\,(b\,v - u), \qquad s = \Theta(v' - v_{th}) \\
    v &\leftarrow (1 - s)\, v' + s\, c, \qquad u \leftarrow u' + s\, d

``dt`` is given in seconds like every neuro neuron and converted to milliseconds inside the step.
The resting state is ``v = c``, ``u = b c``. Defaults are the regular-spiking cell
(a, b, c, d) = (0.02, 0.2, -65, 8).

Example:
    >>> import torch
    >>> spikes, _ = Izhikevich()(torch.full((200, 1), 10.0))
    >>> int(spikes.sum())   # tonic spiking under 10 pA for 200 ms
    5
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from neuro.core.surrogate import ATan, Surrogate
from neuro.neurons.base import CellForward, NeuronModule, SequenceForward

__all__ = ["Izhikevich", "IzhikevichCell", "IzhikevichParameters", "IzhikevichState", "izhikevich_step"]


class IzhikevichParameters(NamedTuple):
    a: Tensor | float = 0.02
    b: Tensor | float = 0.2
    c: Tensor | float = -65.0
    d: Tensor | float = 8.0
    v_threshold: Tensor | float = 30.0
    r: Tensor | float = 1.0
    dt: float = 1e-3
    detach_reset: bool = False
    surrogate: Surrogate = ATan()


class IzhikevichState(NamedTuple):
    v: Tensor
    u: Tensor


def izhikevich_step(x: Tensor, state: IzhikevichState, p: IzhikevichParameters
                    ) -> tuple[Tensor, IzhikevichState]:
    """One step (``dt`` seconds) of the Izhikevich neuron."""
    dt_ms = p.dt * 1e3
    v, u = state
    drive = p.r * x
    for _ in range(2):  # two half steps of v for numerical stability (Izhikevich 2003)
        v = v + 0.5 * dt_ms * (0.04 * v * v + 5.0 * v + 140.0 - u + drive)
    u = u + dt_ms * p.a * (p.b * v - u)
    s = p.surrogate(v - p.v_threshold)
    sr = s.detach() if p.detach_reset else s
    # clamp: above threshold the (1 - s) term is zero anyway; this keeps a diverging v from giving 0 * inf
    v = (1.0 - sr) * v.clamp(max=p.v_threshold) + sr * p.c
    return s, IzhikevichState(v, u + sr * p.d)


class _IzhikevichBase(NeuronModule):
    kind = "izhikevich"
    State = IzhikevichState
    step = staticmethod(izhikevich_step)

    def __init__(self, a: Tensor | float = 0.02, b: Tensor | float = 0.2, c: Tensor | float = -65.0,
                 d: Tensor | float = 8.0, v_threshold: Tensor | float = 30.0, r: Tensor | float = 1.0,
                 dt: float = 1e-3, detach_reset: bool = False, surrogate: Surrogate | str = "atan") -> None:
        super().__init__()
        for name, value in (("a", a), ("b", b), ("c", c), ("d", d), ("v_threshold", v_threshold), ("r", r)):
            self._set(name, value)
        self.dt = float(dt)
        self._set_options("none", surrogate, detach_reset)
        del self.reset  # the Izhikevich reset (v <- c, u <- u + d) is part of the model

    def initial_state(self, x: Tensor) -> IzhikevichState:
        v = torch.zeros_like(x) + self.c
        return IzhikevichState(v, self.b * v)

    def params(self) -> IzhikevichParameters:
        return IzhikevichParameters(self.a, self.b, self.c, self.d, self.v_threshold, self.r, self.dt,
                                    self.detach_reset, self.surrogate)


class IzhikevichCell(CellForward, _IzhikevichBase):
    """One Izhikevich step; input ``(B, ...)``."""


class Izhikevich(SequenceForward, _IzhikevichBase):
    """Izhikevich neuron over a time-major sequence ``(T, B, ...)``."""
