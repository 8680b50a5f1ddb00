"""Encoders: shapes, rates, latency golden values."""

from __future__ import annotations

import pytest
import torch

from neuro import DirectEncoder, LatencyEncoder, PoissonEncoder


def test_direct_repeats() -> None:
    x = torch.rand(3, 4)
    out = DirectEncoder(5)(x)
    assert out.shape == (5, 3, 4) and torch.equal(out[2], x)


def test_poisson_rate_matches_probability() -> None:
    x = torch.full((1, 1000), 0.3)
    out = PoissonEncoder(200, generator=torch.Generator().manual_seed(0))(x)
    assert set(out.unique().tolist()) <= {0.0, 1.0}
    assert out.mean().item() == pytest.approx(0.3, abs=0.01)
    assert PoissonEncoder(10)(torch.zeros(2, 3)).sum() == 0


def test_latency_linear_golden() -> None:
    enc = LatencyEncoder(5, threshold=0.0)
    x = torch.tensor([[1.0, 0.5, 0.0, 0.75]])
    out = enc(x)
    assert out.sum(0).tolist() == [[1.0, 1.0, 0.0, 1.0]]  # value 0 never fires
    assert enc.spike_times(x).tolist() == [[0, 2, 5, 1]]


def test_encoder_errors() -> None:
    with pytest.raises(ValueError, match="num_steps must be a positive integer"):
        PoissonEncoder(0)
    with pytest.raises(ValueError, match="gain must be in"):
        PoissonEncoder(3, gain=2.0)
    with pytest.raises(ValueError, match="mode must be"):
        LatencyEncoder(3, mode="exp")
