"""The ``lsm`` entry of the model zoo: a reservoir and a linear readout, built from a ``[model]`` table.

:class:`LSMConfig` holds the reservoir's settings (the MemristorLSM N-MNIST values are the defaults);
:func:`build_reservoir` builds a :class:`~neuro.models.lsm.reservoir.Reservoir` from it, with ideal Gaussian
weights (the paper's software twin, :class:`~neuro.core.weight_source.GaussianWeights` scaled by
``weight_scale``) unless a weight source is passed in — the experiment runner passes device weights
(``hardware_models``) that way, so this package never imports them. :func:`build_lsm` adds a per-step linear
readout for the generic ``classify`` task: summed over time it is a linear readout of the spike counts.

Example:
    >>> import torch
    >>> net = build_lsm(LSMConfig(n_neurons=30, seed=0), (1, 16, 16), 10)
    >>> net(torch.zeros(5, 2, 1, 16, 16))[0].shape
    torch.Size([5, 2, 10])
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

from torch import nn

from neuro.core.sequential import Sequential
from neuro.core.weight_source import GaussianWeights, WeightSource
from neuro.errors import ConfigError
from neuro.models.lsm.connectivity import Connectivity
from neuro.models.lsm.reservoir import Reservoir

__all__ = ["LSMConfig", "build_lsm", "build_reservoir"]


@dataclass(frozen=True)
class LSMConfig:
    """Reservoir settings (``[model]`` of ``name = "lsm"``, ``[reservoir]`` of the ``lsm`` task).

    ``weight_scale`` is the paper's weight constant ``const`` (std of the Gaussian weights); ``input_scale``
    overrides it for the input matrix when > 0. ``seed`` seeds the weight sampling (unset: torch's RNG).
    """

    n_neurons: int = 200
    decay: float = 0.9
    v_threshold: float = 5.0
    v_reset: float = 0.0
    reset: Literal["hard", "subtract"] = "hard"
    weight_scale: float = 0.07
    input_scale: float = 0.0
    connectivity: Connectivity = field(default_factory=Connectivity)
    input_p: float = 1.0
    recurrent: bool = True
    reads: Literal["step", "call"] = "step"
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.n_neurons < 1:
            raise ConfigError(f"n_neurons must be >= 1, got {self.n_neurons}")
        if not self.weight_scale > 0 or self.input_scale < 0:
            raise ConfigError(f"weight_scale must be > 0 and input_scale >= 0, got {self.weight_scale!r}, "
                              f"{self.input_scale!r}")


def build_reservoir(cfg: LSMConfig, n_inputs: int, weights: WeightSource | None = None,
                    input_weights: WeightSource | None = None, seed: int | None = None) -> Reservoir:
    """The reservoir of ``cfg`` for ``n_inputs`` inputs.

    Args:
        weights: recurrent (and input) weight source; default ``GaussianWeights(cfg.weight_scale)``.
        input_weights: input weight source; default ``weights``, or ``GaussianWeights(cfg.input_scale)``
            when ``input_scale > 0`` and no source is given.
        seed: overrides ``cfg.seed``.
    """
    if weights is None:
        weights = GaussianWeights(cfg.weight_scale)
        if input_weights is None and cfg.input_scale > 0:
            input_weights = GaussianWeights(cfg.input_scale)
    return Reservoir(n_inputs, cfg.n_neurons, decay=cfg.decay, v_threshold=cfg.v_threshold, v_reset=cfg.v_reset,
                     reset=cfg.reset, weights=weights, input_weights=input_weights, connectivity=cfg.connectivity,
                     input_p=cfg.input_p, recurrent=cfg.recurrent, reads=cfg.reads,
                     seed=cfg.seed if seed is None else seed)


def build_lsm(cfg: LSMConfig, input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    """Reservoir + ``Linear(n_neurons, num_classes)`` applied at every step: ``(T, B, *input_shape) ->
    (T, B, num_classes)``. Only the readout has parameters."""
    return Sequential(build_reservoir(cfg, math.prod(input_shape)), nn.Linear(cfg.n_neurons, num_classes))
