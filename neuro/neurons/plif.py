r"""Parametric LIF (Fang et al., ICCV 2021): LIF with a learnable time constant.

The decay :math:`\alpha = dt/\tau_{mem} = \mathrm{sigmoid}(w)` is learned through ``w``, initialised
so that ``tau_mem = init_tau_mem``; everything else is :mod:`neuro.neurons.lif`. Equivalent to
SpikingJelly's ``ParametricLIFNode(init_tau)`` with ``init_tau_mem = init_tau * dt``.

Example:
    >>> import torch
    >>> plif = PLIF(init_tau_mem=2e-3)
    >>> round(plif.params().tau_mem.item(), 6)
    0.002
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from neuro.core.reset import ResetRule
from neuro.core.surrogate import Surrogate
from neuro.neurons.base import CellForward, NeuronModule, SequenceForward
from neuro.neurons.lif import LIFParameters, LIFState, lif_step

__all__ = ["PLIF", "PLIFCell"]


class _PLIFBase(NeuronModule):
    kind = "plif"
    State = LIFState
    step = staticmethod(lif_step)
    rest = (("v", "v_leak"),)

    def __init__(self, init_tau_mem: float = 2e-3, v_threshold: Tensor | float = 1.0,
                 v_reset: Tensor | float = 0.0, v_leak: Tensor | float = 0.0, r: Tensor | float = 1.0,
                 dt: float = 1e-3, decay_input: bool = True, reset: ResetRule | str = "hard",
                 detach_reset: bool = False, surrogate: Surrogate | str = "atan",
                 learn_threshold: bool = False) -> None:
        super().__init__()
        if not init_tau_mem > dt:
            raise ValueError(f"{type(self).__name__}: init_tau_mem must exceed dt={dt} s, got {init_tau_mem!r}")
        self.init_tau_mem = float(init_tau_mem)
        self.dt = float(dt)
        self.w = nn.Parameter(torch.tensor(-math.log(init_tau_mem / dt - 1.0)))
        self._set("v_threshold", v_threshold, learn_threshold)
        self._set("v_reset", v_reset)
        self._set("v_leak", v_leak)
        self._set("r", r)
        self.decay_input = bool(decay_input)
        self._set_options(reset, surrogate, detach_reset)

    def reset_parameters(self) -> None:
        super().reset_parameters()
        with torch.no_grad():
            self.w.fill_(-math.log(self.init_tau_mem / self.dt - 1.0))

    def params(self) -> LIFParameters:
        return LIFParameters(self.dt / torch.sigmoid(self.w), self.v_threshold, self.v_reset, self.v_leak,
                             self.r, self.dt, self.decay_input, self.reset, self.detach_reset, self.surrogate)

    def extra_repr(self) -> str:
        tau = self.dt / torch.sigmoid(self.w.detach()).item()
        return f"tau_mem={tau:g} (learnable), " + super().extra_repr()


class PLIFCell(CellForward, _PLIFBase):
    """One parametric-LIF step; input ``(B, ...)``."""


class PLIF(SequenceForward, _PLIFBase):
    """Parametric LIF over a time-major sequence ``(T, B, ...)``."""
