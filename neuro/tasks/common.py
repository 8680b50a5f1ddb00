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

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import Tensor, nn

from neuro.errors import ConfigError
from neuro.models.lsm import FEATURES, Features, extract_features
from neuro.models.readout import RidgeReadout, accuracy
from neuro.training.seeding import seed_everything

__all__ = ["CalibrateConfig", "FeatureConfig", "SplitData", "calibrate", "cross_validate", "features_of", "load_split",
           "materialize", "seed_everything"]


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
    from neuro.data import collate_time_major

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


@dataclass(frozen=True)
class FeatureConfig:
    """``[features]``: the reservoir feature (:data:`neuro.models.lsm.FEATURES`), its bins, and how many samples
    one reservoir call simulates."""

    kind: str = "counts"
    n_bins: int = 1
    batch_size: int = 100

    def __post_init__(self) -> None:
        if self.kind not in FEATURES:
            raise ConfigError(f"features.kind must be one of {sorted(FEATURES)}, got {self.kind!r}")


def features_of(reservoir: nn.Module, data: SplitData, cfg: FeatureConfig) -> Features:
    """Stored features of a whole split (one reservoir pass)."""
    return extract_features(reservoir, data.batches(cfg.batch_size), cfg.kind, cfg.n_bins)


@dataclass(frozen=True)
class CalibrateConfig:
    """``[calibrate]``: weight constants to try (empty: keep the configured one), ridge penalties scored by CV
    (empty: keep the configured one), number of folds and of reservoir seeds averaged."""

    scales: tuple[float, ...] = ()
    alphas: tuple[float, ...] = (1.0, 10.0, 100.0, 1000.0)
    folds: int = 5
    seeds: int = 1


def calibrate(make: Callable[[float, int], nn.Module], train: SplitData, features: FeatureConfig,
              cfg: CalibrateConfig, default_scale: float, default_alpha: float, standardize: bool, seed: int,
              log: Callable[[str], None] = print) -> tuple[float, float, list[dict[str, Any]]]:
    """Choose the weight constant and ridge penalty by k-fold cross-validation on the training split only.

    ``make(scale, seed)`` builds a reservoir. Every (scale, calibration seed) is simulated once; each alpha is
    scored by the mean CV accuracy of a ridge readout. Returns ``(scale, alpha, table)`` with one table row per
    scale (firing rate, CV accuracy per alpha).
    """
    scales = cfg.scales or (default_scale,)
    alphas = cfg.alphas or (default_alpha,)
    table = []
    for scale in scales:
        cv_sum = dict.fromkeys(map(float, alphas), 0.0)
        rate = 0.0
        for j in range(cfg.seeds):
            feats = features_of(make(scale, seed + j), train, features)
            for alpha, acc in cross_validate(feats.x, feats.y, alphas, cfg.folds, seed + j, standardize).items():
                cv_sum[alpha] += acc / cfg.seeds
            rate += feats.firing_rate / cfg.seeds
        best_alpha = max(cv_sum, key=cv_sum.get)
        table.append({"scale": float(scale), "firing_rate": rate, "cv_accuracy": cv_sum,
                      "best_alpha": best_alpha, "best_cv_accuracy": cv_sum[best_alpha]})
        log(f"  calibrate scale {scale:g}: firing rate {rate:.4f}, CV accuracy {cv_sum[best_alpha]:.3f} "
            f"(alpha {best_alpha:g})")
    best = max(table, key=lambda r: r["best_cv_accuracy"])
    return best["scale"], best["best_alpha"], table
