r"""Contrastive learning across modalities: symmetric InfoNCE, projection-head training, retrieval metrics.

**InfoNCE** (CLIP's loss): with L2-normalised embeddings :math:`a_i, b_j` of ``N`` pairs and temperature
:math:`\tau`, logits :math:`z_{ij} = a_i\cdot b_j/\tau` and

.. math::

    \mathcal L = \tfrac12\Big[-\frac1N\sum_i \log\frac{e^{z_{ii}}}{\sum_j e^{z_{ij}}}
                 -\frac1N\sum_j \log\frac{e^{z_{jj}}}{\sum_i e^{z_{ij}}}\Big].

With ``labels``, every pair of the same class is a positive: the target of row :math:`i` is uniform over
:math:`\{j : y_j = y_i\}` (cross-entropy with soft targets), which removes in-batch false negatives.

**Retrieval**: a query is correct when its nearest gallery item (cosine similarity) has the query's class
(the MemristorLSM protocol, top-1 audio-to-image); :func:`prototype_accuracy` instead compares each query with
the mean embedding of every gallery class (chance exactly 1/K).

Example:
    >>> import torch
    >>> a = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    >>> round(float(info_nce(a, a, temperature=1.0)), 4)        # log(1 + e^-1)
    0.3133
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from neuro.errors import ConfigError, ShapeError

__all__ = ["ContrastiveConfig", "chance_level", "fit_contrastive", "info_nce", "prototype_accuracy",
           "retrieval_accuracy"]


def info_nce(a: Tensor, b: Tensor, temperature: float = 1.0, labels: Tensor | None = None) -> Tensor:
    """Symmetric InfoNCE of paired embeddings ``a``, ``b`` ``(N, D)``; see the module docstring."""
    if a.dim() != 2 or a.shape != b.shape:
        raise ShapeError(f"info_nce: expected two (N, D) embeddings of equal shape, got {tuple(a.shape)} and "
                         f"{tuple(b.shape)}")
    if not temperature > 0:
        raise ConfigError(f"info_nce: temperature must be > 0, got {temperature!r}")
    logits = F.normalize(a, dim=1) @ F.normalize(b, dim=1).T / temperature
    if labels is None:
        target = torch.arange(a.shape[0], device=a.device)
        return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))
    same = (labels[:, None] == labels[None, :]).to(logits.dtype)
    target = same / same.sum(1, keepdim=True)
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))


def _similar(query: Tensor, gallery: Tensor) -> Tensor:
    return F.normalize(query, dim=1) @ F.normalize(gallery, dim=1).T


def retrieval_accuracy(query: Tensor, query_labels: Tensor, gallery: Tensor, gallery_labels: Tensor,
                       k: int = 1) -> float:
    """Fraction of queries whose ``k`` most similar gallery items include one of the query's class."""
    top = _similar(query, gallery).topk(min(k, gallery.shape[0]), dim=1).indices  # (Q, k)
    return float((gallery_labels[top] == query_labels[:, None]).any(1).float().mean())


def prototype_accuracy(query: Tensor, query_labels: Tensor, gallery: Tensor, gallery_labels: Tensor) -> float:
    """Fraction of queries closest (cosine) to the mean normalised embedding of their own gallery class."""
    classes = gallery_labels.unique()
    g = F.normalize(gallery, dim=1)
    protos = torch.stack([g[gallery_labels == c].mean(0) for c in classes])
    pred = classes[_similar(query, protos).argmax(1)]
    return float((pred == query_labels).float().mean())


def chance_level(query_labels: Tensor, gallery_labels: Tensor) -> float:
    """Top-1 retrieval accuracy of random embeddings: :math:`\\sum_k q_k g_k` with query and gallery class
    fractions :math:`q_k, g_k`."""
    classes = torch.cat([query_labels, gallery_labels]).unique()
    q = torch.stack([(query_labels == c).float().mean() for c in classes])
    g = torch.stack([(gallery_labels == c).float().mean() for c in classes])
    return float((q * g).sum())


@dataclass(frozen=True)
class ContrastiveConfig:
    """Training of two projection heads on stored features (MemristorLSM: Adam, lr 1e-3, feature batch 8,
    100 epochs, temperature 1.0, projection dimension 64). ``positives``: ``"pairs"`` (plain InfoNCE) or
    ``"labels"`` (same-class pairs are positives too)."""

    dim: int = 64
    hidden: tuple[int, ...] = ()
    epochs: int = 100
    batch_size: int = 8
    lr: float = 1e-3
    weight_decay: float = 0.0
    temperature: float = 1.0
    positives: str = "pairs"
    standardize: bool = True

    def __post_init__(self) -> None:
        if self.positives not in ("pairs", "labels"):
            raise ConfigError(f"head.positives must be 'pairs' or 'labels', got {self.positives!r}")
        if self.epochs < 1 or self.batch_size < 2 or self.dim < 1:
            raise ConfigError("head: epochs >= 1, batch_size >= 2 and dim >= 1 required")


def fit_contrastive(head_a: nn.Module, head_b: nn.Module, xa: Tensor, ya: Tensor, sample_b: Callable[[Tensor,
                    torch.Generator], Tensor], cfg: ContrastiveConfig, seed: int = 0,
                    on_epoch: Callable[[int, float], None] | None = None) -> list[float]:
    """Train ``head_a`` and ``head_b`` with InfoNCE: every epoch, each row of ``xa`` (labels ``ya``) is paired
    with ``sample_b(labels, generator)`` (features of the other modality drawn for those labels).

    ``on_epoch(epoch, mean_loss)`` is called after every epoch with the heads in eval mode (for monitoring).
    Returns the mean loss of every epoch; the heads are left in eval mode.
    """
    g = torch.Generator().manual_seed(int(seed))
    params = list(head_a.parameters()) + list(head_b.parameters())
    opt = torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    head_a.train()
    head_b.train()
    history = []
    for _ in range(cfg.epochs):
        order = torch.randperm(xa.shape[0], generator=g)
        xb = sample_b(ya[order], g)
        total, batches = 0.0, 0
        for i in range(0, xa.shape[0], cfg.batch_size):
            idx = order[i:i + cfg.batch_size]
            if idx.numel() < 2:
                continue
            labels = ya[idx] if cfg.positives == "labels" else None
            loss = info_nce(head_a(xa[idx]), head_b(xb[i:i + cfg.batch_size]), cfg.temperature, labels)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total, batches = total + loss.item(), batches + 1
        history.append(total / max(batches, 1))
        if on_epoch is not None:
            head_a.eval()
            head_b.eval()
            on_epoch(len(history) - 1, history[-1])
            head_a.train()
            head_b.train()
    head_a.eval()
    head_b.eval()
    return history
