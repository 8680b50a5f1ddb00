"""InfoNCE against hand-computed values, retrieval metrics on hand-made embeddings, contrastive training."""

from __future__ import annotations

import math

import pytest
import torch

from neuro.errors import ConfigError, ShapeError
from neuro.models.readout import ProjectionHead
from neuro.training.contrastive import (
    ContrastiveConfig,
    chance_level,
    fit_contrastive,
    info_nce,
    prototype_accuracy,
    retrieval_accuracy,
)

A = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
B = torch.tensor([[0.6, 0.8], [0.0, 1.0]], dtype=torch.float64)  # unit rows


def _lse(*z: float) -> float:
    return math.log(sum(math.exp(v) for v in z))


def test_info_nce_hand_computed() -> None:
    # logits = A B^T / 0.5 = [[1.2, 0], [1.6, 2]]
    rows = (_lse(1.2, 0.0) - 1.2) + (_lse(1.6, 2.0) - 2.0)
    cols = (_lse(1.2, 1.6) - 1.2) + (_lse(0.0, 2.0) - 2.0)
    expected = 0.5 * (rows / 2 + cols / 2)
    assert float(info_nce(A, B, temperature=0.5)) == pytest.approx(expected, rel=1e-12)
    # scaling an embedding changes nothing (cosine similarity)
    assert float(info_nce(3 * A, 0.2 * B, temperature=0.5)) == pytest.approx(expected, rel=1e-12)


def test_info_nce_with_labels_hand_computed() -> None:
    # both pairs of one class: targets 1/2, 1/2 in every row and column
    rows = 0.5 * ((_lse(1.2, 0.0) - 1.2) + (_lse(1.2, 0.0) - 0.0)) + 0.5 * ((_lse(1.6, 2.0) - 1.6)
                                                                         + (_lse(1.6, 2.0) - 2.0))
    cols = 0.5 * ((_lse(1.2, 1.6) - 1.2) + (_lse(1.2, 1.6) - 1.6)) + 0.5 * ((_lse(0.0, 2.0) - 0.0)
                                                                         + (_lse(0.0, 2.0) - 2.0))
    expected = 0.5 * (rows / 2 + cols / 2)
    got = info_nce(A, B, temperature=0.5, labels=torch.tensor([3, 3]))
    assert float(got) == pytest.approx(expected, rel=1e-12)
    # distinct labels reduce to plain InfoNCE
    assert float(info_nce(A, B, 0.5, torch.tensor([0, 1]))) == pytest.approx(float(info_nce(A, B, 0.5)))


def test_info_nce_errors() -> None:
    with pytest.raises(ShapeError):
        info_nce(A, B[:1])
    with pytest.raises(ConfigError):
        info_nce(A, B, temperature=0.0)


def test_retrieval_metrics_golden() -> None:
    gallery = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])
    gy = torch.tensor([0, 1, 1, 1])
    query = torch.tensor([[1.0, 0.05], [0.2, 1.0], [0.95, 0.2]])
    qy = torch.tensor([0, 1, 1])
    # nearest: q0 -> g0 (0, right), q1 -> g3 (1, right), q2 -> g1 (cos .99 vs .98 for g0: 1, right)
    assert retrieval_accuracy(query, qy, gallery, gy) == pytest.approx(1.0)
    assert retrieval_accuracy(query, torch.tensor([1, 1, 0]), gallery, gy) == pytest.approx(1 / 3)
    # prototypes: class 0 = g0, class 1 = mean of g1..g3 (normalised rows) -> q2 is closer to class 0
    assert prototype_accuracy(query, qy, gallery, gy) == pytest.approx(2 / 3)
    assert chance_level(qy, gy) == pytest.approx(1 / 3 * 1 / 4 + 2 / 3 * 3 / 4)


def test_contrastive_training_aligns_modalities() -> None:
    g = torch.Generator().manual_seed(0)
    ya = torch.arange(120) % 4
    centres_a, centres_b = torch.randn(4, 12, generator=g), torch.randn(4, 9, generator=g)
    xa = centres_a[ya] + 0.3 * torch.randn(120, 12, generator=g)
    yb = torch.arange(80) % 4
    xb = centres_b[yb] + 0.3 * torch.randn(80, 9, generator=g)

    def sample(labels: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        return centres_b[labels] + 0.3 * torch.randn(labels.shape[0], 9, generator=gen)

    torch.manual_seed(0)
    ha, hb = ProjectionHead(12, 16), ProjectionHead(9, 16)
    before = retrieval_accuracy(ha(xa).detach(), ya, hb(xb).detach(), yb)
    losses = fit_contrastive(ha, hb, xa, ya, sample, ContrastiveConfig(dim=16, epochs=8, batch_size=16, lr=5e-3,
                                                                       temperature=0.2), seed=1)
    assert losses[-1] < losses[0]
    with torch.no_grad():
        after = retrieval_accuracy(ha(xa), ya, hb(xb), yb)
    assert after > 0.9 and after > before
