r"""Reservoir diagnostics: firing statistics, spectral radius and the separation property.

Separation (Goodman & Ventura 2006, as used for LSM tuning by Norton & Ventura 2010): with class centroids
:math:`\mu_k` of the state vectors of class :math:`k`,

.. math::

    C_d = \frac{1}{K^2}\sum_{k,l}\lVert\mu_k - \mu_l\rVert_2,\qquad
    C_v = \frac{1}{K}\sum_k \frac{1}{|k|}\sum_{i\in k}\lVert x_i - \mu_k\rVert_2,\qquad
    \mathrm{Sep} = \frac{C_d}{C_v + 1}

— large when classes drive the reservoir into distant, compact regions of state space.

Example:
    >>> import torch
    >>> x = torch.tensor([[0.0, 0.0], [0.0, 2.0], [3.0, 1.0], [3.0, 1.0]])
    >>> round(separation(x, torch.tensor([0, 0, 1, 1])), 4)       # C_d = 2*3/4, C_v = (1 + 0)/2
    1.0
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from neuro.errors import ShapeError
from neuro.models.lsm.connectivity import spectral_radius

__all__ = ["FiringStats", "firing_stats", "separation", "spectral_radius"]


class FiringStats(NamedTuple):
    """``rate``: mean spikes per neuron per step; ``silent``: fraction of neurons that never fired;
    ``saturated``: fraction that fired on more than 90% of the steps; ``per_neuron``: ``(n,)`` rates."""

    rate: float
    silent: float
    saturated: float
    per_neuron: Tensor


def firing_stats(spikes: Tensor) -> FiringStats:
    """Statistics of a ``(T, B, n)`` spike tensor (rates per neuron averaged over samples and steps)."""
    if spikes.dim() != 3:
        raise ShapeError(f"firing_stats: expected spikes (T, B, n), got shape {tuple(spikes.shape)}")
    per_neuron = spikes.float().mean((0, 1))
    per_sample = spikes.float().mean(0)  # (B, n)
    return FiringStats(float(per_neuron.mean()), float((per_sample.sum(0) == 0).float().mean()),
                       float((per_sample > 0.9).float().mean()), per_neuron)


def separation(x: Tensor, labels: Tensor) -> float:
    """Separation property of state vectors ``x`` ``(N, F)`` with class ``labels`` ``(N,)``; see the module."""
    if x.dim() != 2 or labels.shape != (x.shape[0],):
        raise ShapeError(f"separation: expected x (N, F) and labels (N,), got {tuple(x.shape)} and "
                         f"{tuple(labels.shape)}")
    x = x.to(torch.float64)
    classes = labels.unique()
    centroids = torch.stack([x[labels == k].mean(0) for k in classes])
    c_d = float(torch.cdist(centroids, centroids).mean())
    c_v = float(torch.stack([(x[labels == k] - c).norm(dim=1).mean() for k, c in zip(classes, centroids,
                                                                                     strict=True)]).mean())
    return c_d / (c_v + 1.0)
