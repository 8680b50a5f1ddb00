r"""The neuron setting of the spike-driven transformers (V1, NeurIPS 2023; V2 / Meta-SpikeFormer, ICLR 2024).

Both papers use SpikingJelly's ``MultiStepLIFNode(tau=2.0, detach_reset=True)`` everywhere: with
``decay_input`` and a hard reset to 0 one step is

.. math::

    h_t = v_{t-1} + (x_t - v_{t-1}) / \tau,\qquad s_t = \Theta(h_t - v_{th}),\qquad v_t = h_t\,(1 - s_t)

with :math:`\tau = 2` steps, :math:`v_{th} = 1` (0.5 for the attention neuron), the reset term
detached from the graph and a sigmoid surrogate of slope 4. :class:`NeuronSetting` builds these as
neuro's own multi-step :class:`~neuro.neurons.LIF` (``LIF.from_spikingjelly``), so they run on
whatever backend is selected.

Example:
    >>> import torch
    >>> lif = NeuronSetting().lif()
    >>> lif(torch.full((3, 1, 1), 1.5))[0].flatten().tolist()   # h = 0.75, 1.125 -> spike, 0.75
    [0.0, 1.0, 0.0]
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from neuro.core.surrogate import Surrogate, resolve_surrogate
from neuro.errors import ConfigError
from neuro.neurons.lif import LIF

__all__ = ["NeuronSetting"]


@dataclass(frozen=True)
class NeuronSetting:
    """How the spike-driven transformers build their LIF neurons (the papers' setting by default).

    Args:
        tau: membrane time constant in time steps (SpikingJelly's ``tau``).
        v_threshold: firing threshold of every neuron except the attention neuron.
        attn_threshold: threshold of the attention neuron (V1 ``talking_heads_lif``, V2 ``attn_lif``).
        detach_reset: cut the gradient through the reset term.
        surrogate: surrogate table, e.g. ``{"name": "sigmoid", "alpha": 4.0}`` (SpikingJelly's default).
    """

    tau: float = 2.0
    v_threshold: float = 1.0
    attn_threshold: float = 0.5
    detach_reset: bool = True
    surrogate: dict[str, Any] = field(default_factory=lambda: {"name": "sigmoid", "alpha": 4.0})

    def __post_init__(self) -> None:
        if not self.tau > 1.0:
            raise ConfigError(f"NeuronSetting: tau must be > 1 time step (decay 1/tau), got {self.tau!r}")
        if not (self.v_threshold > 0 and self.attn_threshold > 0):
            raise ConfigError(f"NeuronSetting: thresholds must be > 0, got v_threshold={self.v_threshold!r}, "
                              f"attn_threshold={self.attn_threshold!r}")
        self.surrogate_fn()  # validate the table early, naming the bad key

    def surrogate_fn(self) -> Surrogate:
        """The surrogate object described by :attr:`surrogate`."""
        return resolve_surrogate(self.surrogate)

    def lif(self, v_threshold: float | None = None) -> LIF:
        """A multi-step LIF with this setting (threshold ``v_threshold`` or the default one)."""
        threshold = self.v_threshold if v_threshold is None else v_threshold
        return LIF.from_spikingjelly(tau=self.tau, decay_input=True, v_threshold=threshold, v_reset=0.0,
                                     detach_reset=self.detach_reset, surrogate=self.surrogate_fn())

    def attn_lif(self) -> LIF:
        """The attention neuron (threshold :attr:`attn_threshold`)."""
        return self.lif(self.attn_threshold)
