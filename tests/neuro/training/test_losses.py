"""Losses: hand-computed values and errors."""

from __future__ import annotations

import math

import pytest
import torch

from neuro.errors import ConfigError, ShapeError, UnknownNameError
from neuro.training import build_loss, ce_count, ce_max, ce_mean, mse_count, predict, tet


def test_ce_count_golden() -> None:
    out = torch.tensor([[[1.0, 0.0]], [[1.0, 0.0]]])  # counts (2, 0)
    assert ce_count(out, torch.tensor([0])).item() == pytest.approx(math.log(1 + math.exp(-2)))
    assert ce_mean(out, torch.tensor([1])).item() == pytest.approx(math.log(1 + math.exp(1)))
    assert ce_max(out, torch.tensor([0])).item() == pytest.approx(math.log(1 + math.exp(-1)))


def test_mse_count_golden() -> None:
    out = torch.zeros(10, 1, 3)
    out[:6, 0, 1] = 1  # counts (0, 6, 0); targets (2, 8, 2)
    assert mse_count(out, torch.tensor([1])).item() == pytest.approx((4 + 4 + 4) / 3)


def test_tet_golden() -> None:
    out = torch.tensor([[[2.0, 0.0]], [[0.0, 0.0]]])
    ce0 = math.log(1 + math.exp(-2))
    ce1 = math.log(2)
    mse = ((2 - 1) ** 2 + 1 + 1 + 1) / 4
    expected = (1 - 0.1) * (ce0 + ce1) / 2 + 0.1 * mse
    assert tet(out, torch.tensor([0]), lamb=0.1, means=1.0).item() == pytest.approx(expected)


def test_predict_and_errors() -> None:
    out = torch.tensor([[[0.0, 1.0], [1.0, 0.0]]])
    assert predict(out).tolist() == [1, 0]
    with pytest.raises(ShapeError, match=r"expected outputs of shape \(T, B, C\)"):
        ce_count(torch.zeros(2, 3), torch.zeros(2, dtype=torch.long))
    with pytest.raises(UnknownNameError, match="unknown loss 'hinge'"):
        build_loss("hinge")
    with pytest.raises(ConfigError, match="loss 'tet' has no option"):
        build_loss("tet", gamma=2)
    assert build_loss("tet", lamb=0.0)(out, torch.tensor([1, 0])).item() == pytest.approx(
        ce_mean(out, torch.tensor([1, 0])).item())
