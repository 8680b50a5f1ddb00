r"""Readouts trained on stored features (reservoir states computed once): ridge regression and an Adam head.

**Ridge** (:class:`RidgeReadout`): one-hot targets :math:`Y` (``N × K``), features :math:`X` (``N × F``)
centred (and optionally standardised) with the training statistics, then

.. math::

    W = (X^\top X + \alpha I)^{-1} X^\top Y \quad (F \le N),\qquad W = X^\top (X X^\top + \alpha I)^{-1} Y
    \quad (F > N),\qquad b = \bar Y

(the two forms are equal; the bias is not penalised), computed in float64 with ``torch.linalg.solve``.
The class is the argmax of :math:`XW + b`.

**Head** (:func:`fit_head`): a linear layer, or an MLP with ``hidden`` GELU layers, trained with Adam on
cross-entropy over shuffled mini-batches of the stored features (the MemristorLSM ``Read_ANN``: Adam, lr
1e-4, batch 100, 100 epochs).

Example:
    >>> import torch
    >>> x = torch.tensor([[0.0, 1.0], [1.0, 0.0], [0.0, 2.0], [2.0, 0.0]])
    >>> ridge = RidgeReadout(alpha=1e-3).fit(x, torch.tensor([0, 1, 0, 1]))
    >>> ridge.predict(torch.tensor([[0.0, 3.0], [3.0, 0.0]])).tolist()
    [0, 1]
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from neuro.errors import ConfigError, ShapeError

__all__ = ["HeadConfig", "ProjectionHead", "ReadoutConfig", "RidgeReadout", "Standardizer", "accuracy", "fit_head",
           "fit_readout", "make_head"]


class Standardizer(nn.Module):
    """``(x - mean) / std`` with statistics of the training features (``std`` floored at ``eps``; ``scale=False``
    only centres)."""

    def __init__(self, x: Tensor, scale: bool = True, eps: float = 1e-6) -> None:
        super().__init__()
        self.register_buffer("mean", x.mean(0))
        std = x.std(0) if scale and x.shape[0] > 1 else torch.ones_like(x[0])
        self.register_buffer("std", std.clamp_min(eps))

    def forward(self, x: Tensor) -> Tensor:
        return (x - self.mean) / self.std


def _check_xy(x: Tensor, y: Tensor) -> None:
    if x.dim() != 2 or y.dim() != 1 or x.shape[0] != y.shape[0]:
        raise ShapeError(f"readout: expected features (N, F) and labels (N,), got {tuple(x.shape)} and "
                         f"{tuple(y.shape)}")


class RidgeReadout(nn.Module):
    """Closed-form ridge regression onto one-hot class targets; see the module docstring.

    Args:
        alpha: L2 penalty (> 0 keeps the system well conditioned).
        standardize: z-score features with the training statistics (else only centre them).
        num_classes: number of classes (default: ``max(label) + 1``).
    """

    def __init__(self, alpha: float = 1.0, standardize: bool = True, num_classes: int | None = None) -> None:
        super().__init__()
        if not alpha >= 0:
            raise ConfigError(f"RidgeReadout: alpha must be >= 0, got {alpha!r}")
        self.alpha, self.standardize, self.num_classes = float(alpha), bool(standardize), num_classes
        self.norm: Standardizer | None = None
        self.register_buffer("weight", None)
        self.register_buffer("bias", None)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha:g}, standardize={self.standardize}"

    def fit(self, x: Tensor, y: Tensor) -> RidgeReadout:
        _check_xy(x, y)
        k = self.num_classes or int(y.max()) + 1
        self.num_classes = k
        self.norm = Standardizer(x.double(), scale=self.standardize)
        xs = self.norm(x.double())
        targets = F.one_hot(y.long(), k).double()
        bias = targets.mean(0)
        yc = targets - bias
        n, f = xs.shape
        if f <= n:
            gram = xs.T @ xs + self.alpha * torch.eye(f, dtype=torch.float64)
            weight = torch.linalg.solve(gram, xs.T @ yc)
        else:
            gram = xs @ xs.T + self.alpha * torch.eye(n, dtype=torch.float64)
            weight = xs.T @ torch.linalg.solve(gram, yc)
        self.weight, self.bias = weight, bias
        return self

    def forward(self, x: Tensor) -> Tensor:
        """Scores ``(N, K)``."""
        if self.weight is None or self.norm is None:
            raise ConfigError("RidgeReadout: call fit() before using the readout")
        return (self.norm(x.double()) @ self.weight + self.bias).to(x.dtype if x.is_floating_point() else
                                                                     torch.float32)

    def predict(self, x: Tensor) -> Tensor:
        return self.forward(x).argmax(1)


@dataclass(frozen=True)
class HeadConfig:
    """Adam-trained head: ``hidden`` = sizes of GELU hidden layers (empty = linear)."""

    hidden: tuple[int, ...] = ()
    epochs: int = 100
    batch_size: int = 100
    lr: float = 1e-3
    weight_decay: float = 0.0
    dropout: float = 0.0
    standardize: bool = True

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or not self.lr > 0:
            raise ConfigError("head: epochs and batch_size must be >= 1 and lr > 0")


def make_head(in_features: int, out_features: int, hidden: tuple[int, ...] = (), dropout: float = 0.0) -> nn.Module:
    """``Linear`` or ``Linear -> GELU (-> Dropout) -> ... -> Linear``."""
    layers: list[nn.Module] = []
    width = in_features
    for h in hidden:
        layers += [nn.Linear(width, h), nn.GELU()]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        width = h
    layers.append(nn.Linear(width, out_features))
    return nn.Sequential(*layers)


def fit_head(x: Tensor, y: Tensor, cfg: HeadConfig | None = None, num_classes: int | None = None,
             seed: int = 0) -> nn.Module:
    """Train a head on stored features ``x`` ``(N, F)`` with labels ``y`` ``(N,)``; returns ``norm -> head``
    in eval mode. Deterministic given ``seed`` (its own generator for init and shuffling)."""
    _check_xy(x, y)
    cfg = cfg or HeadConfig()
    k = num_classes or int(y.max()) + 1
    g = torch.Generator().manual_seed(int(seed))
    norm = Standardizer(x.float(), scale=cfg.standardize)
    with torch.random.fork_rng():
        torch.manual_seed(int(torch.randint(0, 2**31 - 1, (1,), generator=g)))
        head = make_head(x.shape[1], k, cfg.hidden, cfg.dropout)
    model = nn.Sequential(norm, head)
    opt = torch.optim.Adam(head.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    xf, y = x.float(), y.long()
    model.train()
    for _ in range(cfg.epochs):
        order = torch.randperm(xf.shape[0], generator=g)
        for i in range(0, xf.shape[0], cfg.batch_size):
            idx = order[i:i + cfg.batch_size]
            loss = F.cross_entropy(model(xf[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return model.eval()


@dataclass(frozen=True)
class ReadoutConfig:
    """``[readout]`` of the ``lsm`` task: ``kind = "ridge"`` (``alpha``) or ``"head"`` (``head`` settings)."""

    kind: Literal["ridge", "head"] = "ridge"
    alpha: float = 1.0
    standardize: bool = True
    head: HeadConfig = field(default_factory=HeadConfig)


def fit_readout(cfg: ReadoutConfig, x: Tensor, y: Tensor, num_classes: int | None = None,
                seed: int = 0) -> nn.Module:
    """A fitted readout (``module(x) -> scores``) of kind ``cfg.kind``."""
    if cfg.kind == "ridge":
        return RidgeReadout(cfg.alpha, cfg.standardize, num_classes).fit(x, y)
    if cfg.kind == "head":
        return fit_head(x, y, cfg.head, num_classes, seed)
    raise ConfigError(f"readout.kind must be 'ridge' or 'head', got {cfg.kind!r}")


def accuracy(readout: nn.Module, x: Tensor, y: Tensor) -> float:
    """Top-1 accuracy of ``readout`` on features ``x`` and labels ``y``."""
    with torch.no_grad():
        return float((readout(x).argmax(1) == y).float().mean())


class ProjectionHead(nn.Sequential):
    """Projection of stored features into a shared embedding space: (standardise ->) ``Linear -> GELU`` per
    hidden size, then ``Linear(·, dim) -> GELU`` (MemristorLSM's "OneFC" head with GELU, dim 64, when
    ``hidden`` is empty).

    Example:
        >>> import torch
        >>> ProjectionHead(200, 64)(torch.zeros(3, 200)).shape
        torch.Size([3, 64])
    """

    def __init__(self, in_features: int, dim: int = 64, hidden: tuple[int, ...] = (),
                 norm: Standardizer | None = None) -> None:
        layers: list[nn.Module] = [norm] if norm is not None else []
        width = in_features
        for h in (*hidden, dim):
            layers += [nn.Linear(width, h), nn.GELU()]
            width = h
        super().__init__(*layers)
