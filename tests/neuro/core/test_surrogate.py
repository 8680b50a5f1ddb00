"""Surrogate gradients: golden values, float64 gradcheck, backward == grad, registry errors."""

from __future__ import annotations

import math

import pytest
import torch

from neuro.core.surrogate import (
    SURROGATES,
    ATan,
    Erf,
    FastSigmoid,
    Rectangular,
    Sigmoid,
    Surrogate,
    Triangle,
    resolve_surrogate,
)
from neuro.errors import ConfigError, UnknownNameError

ALL = sorted({cls for cls in SURROGATES.values()}, key=lambda c: c.name)


@pytest.mark.parametrize(
    ("surrogate", "x", "expected"),
    [
        (Sigmoid(alpha=4.0), 0.0, 1.0),  # 4 * 0.5 * 0.5
        (ATan(alpha=2.0), 0.0, 1.0),
        (ATan(alpha=2.0), 1.0, 1.0 / (1 + math.pi**2)),
        (FastSigmoid(slope=25.0), 0.0, 1.0),
        (FastSigmoid(slope=25.0), 0.2, 1.0 / 36.0),
        (Triangle(width=1.0), 0.5, 0.5),
        (Triangle(width=2.0), 3.0, 0.0),
        (Rectangular(width=1.0), 0.49, 1.0),
        (Rectangular(width=1.0), 0.51, 0.0),
        (Rectangular(width=0.5), 0.0, 2.0),  # the LSM code's lens = 0.25 half-width
        (Erf(alpha=2.0), 0.0, 2.0 / math.sqrt(math.pi)),
    ],
)
def test_golden_gradients(surrogate: Surrogate, x: float, expected: float) -> None:
    assert surrogate.grad(torch.tensor(x, dtype=torch.float64)).item() == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.name)
def test_forward_is_heaviside(cls: type[Surrogate]) -> None:
    x = torch.tensor([-2.0, -1e-6, 0.0, 1e-6, 3.0], requires_grad=True)
    assert cls()(x).tolist() == [0.0, 0.0, 1.0, 1.0, 1.0]


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.name)
def test_grad_is_derivative_of_primitive_gradcheck(cls: type[Surrogate]) -> None:
    s = cls()
    # points away from the kinks of the piecewise surrogates
    x = torch.tensor([-1.3, -0.37, -0.11, 0.07, 0.23, 0.61, 1.7], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(s.primitive, (x,), eps=1e-6, atol=1e-7)
    (auto,) = torch.autograd.grad(s.primitive(x).sum(), x)
    torch.testing.assert_close(s.grad(x.detach()), auto, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.name)
def test_spike_backward_uses_grad(cls: type[Surrogate]) -> None:
    s = cls()
    x = torch.linspace(-2, 2, 41, dtype=torch.float64, requires_grad=True)
    upstream = torch.rand(41, dtype=torch.float64)
    (g,) = torch.autograd.grad(s(x), x, upstream)
    torch.testing.assert_close(g, upstream * s.grad(x.detach()))


def test_resolve_forms_and_errors() -> None:
    assert resolve_surrogate("atan") == ATan()
    assert resolve_surrogate({"name": "sigmoid", "alpha": 2.0}) == Sigmoid(alpha=2.0)
    assert resolve_surrogate("superspike") == FastSigmoid()
    with pytest.raises(UnknownNameError, match="unknown surrogate 'nope'.*atan"):
        resolve_surrogate("nope")
    with pytest.raises(ConfigError, match="surrogate 'atan'"):
        resolve_surrogate({"name": "atan", "beta": 1.0})
    with pytest.raises(ConfigError, match="alpha must be > 0"):
        ATan(alpha=0.0)
