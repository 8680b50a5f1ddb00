"""Helpers shared by the reservoir tasks: datasets held in memory, batching, cross-validation, seeding.

The reservoir tasks simulate a fixed reservoir many times over the same data (calibration, several seeds), so a
split is read once through :func:`neuro.data.build_dataset` into one time-major tensor (:class:`SplitData`).

Example:
    >>> import torch
    >>> data = SplitData(torch.zeros(5, 4, 3), torch.tensor([0, 1, 0, 1]), 2)
    >>> [tuple(x.shape) for x, _ in data.batches(3)]
    [(5, 3, 3), (5, 1, 3)]
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import Tensor

from neuro.errors import ConfigError
from neuro.models.readout import RidgeReadout, accuracy

__all__ = ["SplitData", "cross_validate", "load_split", "materialize", "seed_everything"]


class SplitData(NamedTuple):
    """A whole split in memory: ``x`` ``(T, N, ...)`` float32, ``y`` ``(N,)`` int64, ``num_classes``."""

    x: Tensor
    y: Tensor
    num_classes: int

    def batches(self, batch_size: int) -> Iterator[tuple[Tensor, Tensor]]:
        for i in range(0, self.x.shape[1], batch_size):
            yield self.x[:, i:i + batch_size], self.y[i:i + batch_size]

    def select(self, keep: Tensor) -> SplitData:
        """The samples where the boolean ``keep`` ``(N,)`` is true."""
        return SplitData(self.x[:, keep], self.y[keep], self.num_classes)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x.shape[2:])


def materialize(dataset: Any) -> SplitData:
    """Read every ``(x (T, ...), label)`` of ``dataset`` into one :class:`SplitData` (zero-padded in time)."""
    from neuro.training import collate_time_major

    n = len(dataset)
    if n == 0:
        raise ConfigError("the dataset is empty")
    x, y = collate_time_major([dataset[i] for i in range(n)])
    num_classes = int(getattr(dataset, "num_classes", int(y.max()) + 1))
    return SplitData(x.float(), y, num_classes)


def load_split(table: Mapping[str, Any], split: str) -> SplitData:
    """Build split ``split`` of the dataset an experiment's ``[data]`` table names and hold it in memory."""
    from neuro.data import build_dataset  # data sits below the runner; imported here to keep `neuro` light

    return materialize(build_dataset(table, split))


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def cross_validate(x: Tensor, y: Tensor, alphas: Sequence[float], folds: int = 5, seed: int = 0,
                   standardize: bool = True) -> dict[float, float]:
    """Mean k-fold accuracy of a ridge readout for each ``alpha`` (folds from a seeded permutation)."""
    if folds < 2 or folds > x.shape[0]:
        raise ConfigError(f"calibrate.folds must be in [2, number of training samples], got {folds}")
    order = torch.randperm(x.shape[0], generator=torch.Generator().manual_seed(seed))
    fold = torch.empty_like(order)
    fold[order] = torch.arange(x.shape[0]) % folds
    k = int(y.max()) + 1
    out = {}
    for alpha in alphas:
        accs = []
        for f in range(folds):
            held = fold == f
            ridge = RidgeReadout(alpha, standardize, k).fit(x[~held], y[~held])
            accs.append(accuracy(ridge, x[held], y[held]))
        out[float(alpha)] = float(np.mean(accs))
    return out
