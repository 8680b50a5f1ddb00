r"""State readout of a reservoir: the feature vector a readout is trained on.

:data:`FEATURES` maps a name to ``fn(spikes, state, n_bins) -> (B, F)`` with ``spikes`` the ``(T, B, n)``
reservoir output and ``state`` its final :class:`~neuro.models.lsm.reservoir.LSMState`:

* ``"counts"`` — spikes per neuron over the whole sequence, :math:`c_i = \sum_t s_{t,i}` (``F = n``);
* ``"binned"`` — spikes per neuron in ``n_bins`` consecutive chunks of the sequence (``torch.chunk``
  boundaries; ``F = n_bins * n``, bin-major);
* ``"membrane"`` — the final membrane potential (``F = n``);
* ``"counts+membrane"`` — both, concatenated.

:func:`extract_features` runs a reservoir once over a dataset, in batches and without autograd, and stores the
features (the MemristorLSM protocol: one reservoir pass, then only the readout is trained).

Example:
    >>> import torch
    >>> s = torch.tensor([[[1.0, 0.0]], [[1.0, 1.0]], [[0.0, 1.0]]])        # (T=3, B=1, n=2)
    >>> FEATURES["binned"](s, None, 2).tolist()
    [[2.0, 1.0, 0.0, 1.0]]
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from neuro.errors import ConfigError, unknown_name

__all__ = ["FEATURES", "Features", "extract_features", "reservoir_features"]


def _counts(spikes: Tensor, state: Any, n_bins: int) -> Tensor:
    return spikes.sum(0)


def _binned(spikes: Tensor, state: Any, n_bins: int) -> Tensor:
    if n_bins < 1:
        raise ConfigError(f"binned features need n_bins >= 1, got {n_bins}")
    chunks = [c.sum(0) for c in spikes.chunk(n_bins, dim=0)]  # each (B, n)
    chunks += [torch.zeros_like(chunks[0])] * (n_bins - len(chunks))
    return torch.cat(chunks, dim=1)


def _membrane(spikes: Tensor, state: Any, n_bins: int) -> Tensor:
    return state.v


def _counts_membrane(spikes: Tensor, state: Any, n_bins: int) -> Tensor:
    return torch.cat([spikes.sum(0), state.v], dim=1)


#: Registry of reservoir features. One line per feature.
FEATURES: dict[str, Callable[[Tensor, Any, int], Tensor]] = {
    "counts": _counts,
    "binned": _binned,
    "membrane": _membrane,
    "counts+membrane": _counts_membrane,
}


def reservoir_features(reservoir: nn.Module, x: Tensor, feature: str = "counts", n_bins: int = 1) -> Tensor:
    """Features ``(B, F)`` of one batch ``x`` of shape ``(T, B, ...)``."""
    fn = FEATURES.get(feature)
    if fn is None:
        raise unknown_name("reservoir feature", feature, FEATURES)
    with torch.no_grad():
        spikes, state = reservoir(x)
        return fn(spikes, state, n_bins)


class Features(NamedTuple):
    """Stored features of a dataset: ``x`` ``(N, F)``, ``y`` ``(N,)`` and the mean firing rate
    (spikes per neuron per step) of the reservoir over it."""

    x: Tensor
    y: Tensor
    firing_rate: float


def extract_features(reservoir: nn.Module, data: Iterable[tuple[Tensor, Any]] | Any, feature: str = "counts",
                     n_bins: int = 1, batch_size: int = 64) -> Features:
    """Run ``reservoir`` once over every sample of ``data`` and return the stored features.

    Args:
        data: a dataset of ``(x, label)`` with ``x`` of shape ``(T, ...)`` (batched here with
            :func:`neuro.data.collate_time_major`), or an iterable of ready batches ``(x (T, B, ...),
            y (B,))``.
        feature, n_bins: see :data:`FEATURES`.
        batch_size: samples per reservoir call (datasets only).
    """
    from neuro.data import collate_time_major

    fn = FEATURES.get(feature)
    if fn is None:
        raise unknown_name("reservoir feature", feature, FEATURES)
    if hasattr(data, "__getitem__") and hasattr(data, "__len__"):
        def batches() -> Iterable[tuple[Tensor, Tensor]]:
            for i in range(0, len(data), batch_size):
                yield collate_time_major([data[j] for j in range(i, min(i + batch_size, len(data)))])
        source = batches()
    else:
        source = data
    xs, ys = [], []
    spikes_total, updates = 0.0, 0
    with torch.no_grad():
        for x, y in source:
            spikes, state = reservoir(x)
            xs.append(fn(spikes, state, n_bins))
            ys.append(torch.as_tensor(y))
            spikes_total += float(spikes.sum())
            updates += spikes.numel()
    if not xs:
        raise ConfigError("extract_features: the dataset is empty")
    return Features(torch.cat(xs), torch.cat(ys).long(), spikes_total / max(updates, 1))
