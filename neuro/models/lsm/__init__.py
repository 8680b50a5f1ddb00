"""Liquid state machines: a fixed random spiking reservoir, its features and diagnostics.

The reservoir (:class:`Reservoir`) takes its weights from a weight source (ideal Gaussian or, through the
experiment runner, a resistive-memory device model), is simulated once per sample without autograd, and only a
readout (:mod:`neuro.models.readout`) or a projection head is trained on its stored features
(:func:`extract_features`). :func:`reservoir_features` is the one-batch entry point used by benchmarks.

Example:
    >>> import torch
    >>> res = Reservoir(256, 200, seed=10)
    >>> reservoir_features(res, torch.zeros(50, 2, 1, 16, 16)).shape
    torch.Size([2, 200])
"""

from neuro.models.lsm.connectivity import (
    Connectivity,
    apply_dale,
    excitatory_mask,
    grid_positions,
    input_mask,
    recurrent_mask,
    spectral_radius,
)
from neuro.models.lsm.diagnostics import FiringStats, firing_stats, separation
from neuro.models.lsm.features import FEATURES, Features, extract_features, reservoir_features
from neuro.models.lsm.model import LSMConfig, build_lsm, build_reservoir
from neuro.models.lsm.reservoir import LSMState, Reservoir
from neuro.models.lsm.synapses import FixedSynapses, event_matmul

__all__ = ["FEATURES", "Connectivity", "Features", "FiringStats", "FixedSynapses", "LSMConfig", "LSMState",
           "Reservoir", "apply_dale", "build_lsm", "build_reservoir", "event_matmul", "excitatory_mask",
           "extract_features", "firing_stats", "grid_positions", "input_mask", "recurrent_mask",
           "reservoir_features", "separation", "spectral_radius"]
