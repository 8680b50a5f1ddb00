"""MaxPool2d: exactly F.max_pool2d (values, the tie-breaking of binary maps, gradients), fused or not."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.nn import functional as F

from neuro import backends
from neuro.errors import ShapeError
from neuro.layers import MaxPool2d

pytest.importorskip("numba")


def _both(pool, x, k_or_kwargs):
    xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
    ya = pool(xa)
    yb = F.max_pool2d(xb.reshape(-1, *x.shape[-3:]), **k_or_kwargs).reshape(ya.shape)
    g = torch.randn(ya.shape, dtype=x.dtype, generator=torch.Generator().manual_seed(3))
    ya.backward(g)
    yb.backward(g)
    return ya, yb, xa.grad, xb.grad


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 4), st.integers(1, 3), st.integers(1, 3), st.integers(4, 13), st.integers(4, 13),
       st.booleans(), st.integers(0, 10**6))
def test_equals_torch_exactly(k, n, c, h, w, binary, seed):
    g = torch.Generator().manual_seed(seed)
    x = (torch.rand((n, c, h, w), generator=g) < 0.4).double() if binary else torch.randn((n, c, h, w), generator=g)
    ya, yb, ga, gb = _both(MaxPool2d(k), x, {"kernel_size": k})
    assert torch.equal(ya, yb) and torch.equal(ga, gb)  # binary maps: ties resolved like torch (first maximum)


def test_sequence_input_runs_fused(monkeypatch):
    from neuro.backends import _fused_pool

    calls = []
    real = _fused_pool.max_pool2d
    monkeypatch.setattr(_fused_pool, "max_pool2d", lambda *a: calls.append(1) or real(*a))
    x = (torch.rand(5, 3, 12, 30, 30) < 0.2).float()  # (T, B, C, H, W)
    ya, yb, ga, gb = _both(MaxPool2d(2), x, {"kernel_size": 2})
    assert calls == [1] and ya.shape == (5, 3, 12, 15, 15)
    assert torch.equal(ya, yb) and torch.equal(ga, gb)
    with backends.use("reference"):
        MaxPool2d(2)(x)
    assert calls == [1]


@pytest.mark.parametrize("kwargs", [{"kernel_size": 3, "stride": 2}, {"kernel_size": 2, "padding": 1},
                                    {"kernel_size": 2, "ceil_mode": True}, {"kernel_size": 2, "dilation": 2},
                                    {"kernel_size": (2, 3)}])
def test_other_configurations_run_torch(kwargs):
    x = torch.randn(2, 3, 9, 9)
    ya, yb, ga, gb = _both(MaxPool2d(**kwargs), x, kwargs)
    assert torch.equal(ya, yb) and torch.equal(ga, gb)


def test_channels_last_half_and_errors():
    x = torch.randn(2, 3, 8, 8).contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(MaxPool2d(2)(x), F.max_pool2d(x, 2), rtol=0, atol=0)
    h = torch.randn(2, 3, 8, 8).half()
    torch.testing.assert_close(MaxPool2d(2)(h), F.max_pool2d(h, 2), rtol=0, atol=0)
    with pytest.raises(ShapeError, match=r"\(\.\.\., C, H, W\).*\(8, 8\)"):
        MaxPool2d(2)(torch.zeros(8, 8))


def test_broadcast_output_gradient():
    x = (torch.rand(2, 3, 8, 8) < 0.3).double()
    xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
    MaxPool2d(2)(xa).sum().backward()
    F.max_pool2d(xb, 2).sum().backward()
    assert torch.equal(xa.grad, xb.grad)


def test_nan_windows_like_torch():
    x = torch.tensor([[[[float("nan"), 1.0, 2.0, float("nan")], [float("nan"), 0.0, 1.0, 3.0]]]], dtype=torch.float64)
    xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
    ya, yb = MaxPool2d(2)(xa), F.max_pool2d(xb, 2)
    ya.backward(torch.ones_like(ya))
    yb.backward(torch.ones_like(yb))
    assert torch.equal(ya.isnan(), yb.isnan()) and torch.equal(xa.grad, xb.grad)
