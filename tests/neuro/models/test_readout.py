"""Readouts on stored features: ridge against the closed form (both forms) and sklearn; the Adam head."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from neuro.errors import ConfigError, ShapeError
from neuro.models.readout import HeadConfig, ReadoutConfig, RidgeReadout, accuracy, fit_head, fit_readout


def _closed_form(x: np.ndarray, y: np.ndarray, alpha: float, k: int, standardize: bool) -> tuple:
    """Ridge on one-hot targets, written with numpy: centre (and scale) X, centre Y, solve the normal equations."""
    mean = x.mean(0)
    std = x.std(0, ddof=1) if standardize else np.ones(x.shape[1])
    xs = (x - mean) / np.maximum(std, 1e-6)
    t = np.eye(k)[y]
    w = np.linalg.solve(xs.T @ xs + alpha * np.eye(x.shape[1]), xs.T @ (t - t.mean(0)))
    return w, t.mean(0), mean, std


@pytest.mark.parametrize("n,f", [(40, 6), (8, 30)])  # primal (F <= N) and dual (F > N) forms
@pytest.mark.parametrize("standardize", [True, False])
def test_ridge_matches_closed_form(n: int, f: int, standardize: bool) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, f)) * rng.uniform(0.5, 3.0, size=f) + rng.normal(size=f)
    y = rng.integers(0, 3, size=n)
    ridge = RidgeReadout(alpha=0.7, standardize=standardize, num_classes=3).fit(torch.tensor(x), torch.tensor(y))
    w, b, mean, std = _closed_form(x, y, 0.7, 3, standardize)
    np.testing.assert_allclose(ridge.weight.numpy(), w, rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(ridge.bias.numpy(), b, rtol=1e-12)
    xq = rng.normal(size=(5, f))
    scores = ridge(torch.tensor(xq)).numpy()
    np.testing.assert_allclose(scores, (xq - mean) / std @ w + b, rtol=1e-9, atol=1e-10)


def test_ridge_matches_sklearn() -> None:
    sklearn = pytest.importorskip("sklearn.linear_model")
    rng = np.random.default_rng(1)
    x = rng.normal(size=(50, 7))
    y = rng.integers(0, 4, size=50)
    ridge = RidgeReadout(alpha=2.0, standardize=False, num_classes=4).fit(torch.tensor(x), torch.tensor(y))
    ref = sklearn.Ridge(alpha=2.0).fit(x, np.eye(4)[y])
    np.testing.assert_allclose(ridge.weight.numpy(), ref.coef_.T, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(ridge(torch.tensor(x)).numpy(), ref.predict(x), rtol=1e-8, atol=1e-10)


def test_ridge_golden() -> None:
    # one feature, two classes at x = -1 and x = +1, alpha = 0: w = cov(x, t) / var(x) per class column
    x = torch.tensor([[-1.0], [-1.0], [1.0], [1.0]])
    ridge = RidgeReadout(alpha=0.0, standardize=False).fit(x, torch.tensor([0, 0, 1, 1]))
    assert ridge.weight.tolist() == [[-0.5, 0.5]] and ridge.bias.tolist() == [0.5, 0.5]
    assert ridge.predict(torch.tensor([[-3.0], [0.2]])).tolist() == [0, 1]


def test_head_learns_and_is_deterministic() -> None:
    g = torch.Generator().manual_seed(0)
    centres = torch.randn(4, 10, generator=g) * 3
    y = torch.arange(200) % 4
    x = centres[y] + torch.randn(200, 10, generator=g)
    cfg = HeadConfig(epochs=15, batch_size=50, lr=3e-2)
    head = fit_head(x, y, cfg, seed=3)
    assert accuracy(head, x, y) > 0.95
    again = fit_head(x, y, cfg, seed=3)
    torch.testing.assert_close(head(x), again(x))
    mlp_cfg = ReadoutConfig(kind="head", head=HeadConfig(hidden=(16,), epochs=15, batch_size=50, lr=3e-2))
    mlp = fit_readout(mlp_cfg, x, y)
    assert accuracy(mlp, x, y) > 0.95


def test_readout_errors() -> None:
    with pytest.raises(ShapeError):
        RidgeReadout().fit(torch.zeros(3, 2), torch.zeros(4, dtype=torch.long))
    with pytest.raises(ConfigError, match="fit"):
        RidgeReadout()(torch.zeros(1, 2))
    with pytest.raises(ConfigError):
        HeadConfig(epochs=0)
