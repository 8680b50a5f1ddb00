r"""Surrogate gradients: a Heaviside forward pass with a smooth backward pass.

A surrogate is a small frozen object. Calling it on ``x = v - v_threshold`` returns spikes
:math:`\Theta(x) = [x \ge 0]`; in the backward pass the derivative of the step is replaced by
``surrogate.grad(x)``, the derivative of the smooth function ``surrogate.primitive(x)``.

Parameterisations follow the peers so that a model ports without retuning:

==================  ========================================================  ====================
class               surrogate derivative ``grad(x)``                          same as
==================  ========================================================  ====================
``Sigmoid(a=4)``    :math:`a\,\sigma(ax)(1-\sigma(ax))`                        SpikingJelly Sigmoid
``ATan(a=2)``       :math:`\frac{a/2}{1+(\frac{\pi}{2}ax)^2}`                  snnTorch atan, SJ ATan
``FastSigmoid(k)``  :math:`1/(k|x|+1)^2` (SuperSpike)                          snnTorch fast_sigmoid
``Triangle(w)``     :math:`\max(0, 1-|x|/w)/w`                                 SJ PiecewiseQuadratic
``Rectangular(w)``  :math:`h\,[|x|<w/2]`, ``h = 1/w`` unless given             STBP / pipe-S
``Erf(a=2)``        :math:`\frac{a}{\sqrt\pi} e^{-a^2x^2}` (Gaussian)          SpikingJelly Erf
==================  ========================================================  ====================

Example:
    >>> import torch
    >>> s = ATan(alpha=2.0)
    >>> s(torch.tensor([-0.5, 0.0, 0.5]))
    tensor([0., 1., 1.])
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import Tensor

from neuro.config import resolve_named
from neuro.errors import ConfigError

__all__ = [
    "SURROGATES",
    "ATan",
    "Erf",
    "FastSigmoid",
    "Rectangular",
    "Sigmoid",
    "Surrogate",
    "Triangle",
    "heaviside",
    "resolve_surrogate",
]


def heaviside(x: Tensor) -> Tensor:
    """The spike non-linearity: 1 where ``x >= 0`` else 0, in ``x``'s dtype."""
    return (x >= 0).to(x.dtype)


class _SpikeFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: Tensor, surrogate: Surrogate) -> Tensor:
        ctx.save_for_backward(x)
        ctx.surrogate = surrogate
        return heaviside(x)

    @staticmethod
    def backward(ctx: Any, grad_out: Tensor) -> tuple[Tensor, None]:
        (x,) = ctx.saved_tensors
        return grad_out * ctx.surrogate.grad(x), None


@dataclass(frozen=True)
class Surrogate:
    """Base class: subclasses define :meth:`primitive` and its derivative :meth:`grad`."""

    name: ClassVar[str] = ""

    def __call__(self, x: Tensor) -> Tensor:
        if not x.requires_grad:
            return heaviside(x)
        return _SpikeFunction.apply(x, self)

    def primitive(self, x: Tensor) -> Tensor:  # pragma: no cover - abstract
        """The smooth function whose derivative is used in the backward pass."""
        raise NotImplementedError

    def grad(self, x: Tensor) -> Tensor:  # pragma: no cover - abstract
        """The surrogate derivative d spike / d x."""
        raise NotImplementedError


def _positive(cls: str, field: str, value: float) -> None:
    if not value > 0:
        raise ConfigError(f"{cls}: {field} must be > 0, got {value!r}")


@dataclass(frozen=True)
class Sigmoid(Surrogate):
    """Logistic surrogate; ``alpha`` sets the slope (SpikingJelly's default is 4)."""

    alpha: float = 4.0
    name: ClassVar[str] = "sigmoid"

    def __post_init__(self) -> None:
        _positive("Sigmoid", "alpha", self.alpha)

    def primitive(self, x: Tensor) -> Tensor:
        return torch.sigmoid(self.alpha * x)

    def grad(self, x: Tensor) -> Tensor:
        s = torch.sigmoid(self.alpha * x)
        return self.alpha * s * (1.0 - s)


@dataclass(frozen=True)
class ATan(Surrogate):
    """Arc-tangent surrogate (snnTorch's and SpikingJelly's ``ATan``, default ``alpha = 2``)."""

    alpha: float = 2.0
    name: ClassVar[str] = "atan"

    def __post_init__(self) -> None:
        _positive("ATan", "alpha", self.alpha)

    def primitive(self, x: Tensor) -> Tensor:
        return torch.atan(math.pi / 2 * self.alpha * x) / math.pi + 0.5

    def grad(self, x: Tensor) -> Tensor:
        return (self.alpha / 2) / (1 + (math.pi / 2 * self.alpha * x).square())


@dataclass(frozen=True)
class FastSigmoid(Surrogate):
    """Fast sigmoid / SuperSpike (Zenke & Ganguli 2018): ``1 / (slope |x| + 1)^2``."""

    slope: float = 25.0
    name: ClassVar[str] = "fast_sigmoid"

    def __post_init__(self) -> None:
        _positive("FastSigmoid", "slope", self.slope)

    def primitive(self, x: Tensor) -> Tensor:
        return x / (1 + self.slope * x.abs())

    def grad(self, x: Tensor) -> Tensor:
        return 1.0 / (self.slope * x.abs() + 1.0).square()


@dataclass(frozen=True)
class Triangle(Surrogate):
    """Triangular window of half-width ``width`` and unit area."""

    width: float = 1.0
    name: ClassVar[str] = "triangle"

    def __post_init__(self) -> None:
        _positive("Triangle", "width", self.width)

    def primitive(self, x: Tensor) -> Tensor:
        u = (x / self.width).clamp(-1.0, 1.0)
        return 0.5 + u - u * u.abs() / 2

    def grad(self, x: Tensor) -> Tensor:
        return (1.0 - x.abs() / self.width).clamp_min(0.0) / self.width


@dataclass(frozen=True)
class Rectangular(Surrogate):
    """Rectangular window of full ``width`` and ``height`` (default ``1 / width``: unit area).

    pipe-S uses ``width=1`` (gradient 1 where ``|v - v_th| < 0.5``); the RRAM LSM code uses a
    half-width ("lens") of 0.25, i.e. ``width=0.5``.
    """

    width: float = 1.0
    height: float | None = None
    name: ClassVar[str] = "rectangular"

    def __post_init__(self) -> None:
        _positive("Rectangular", "width", self.width)
        if self.height is not None:
            _positive("Rectangular", "height", self.height)

    @property
    def _h(self) -> float:
        return 1.0 / self.width if self.height is None else self.height

    def primitive(self, x: Tensor) -> Tensor:
        half = self.width / 2
        return self._h * (x.clamp(-half, half) + half)

    def grad(self, x: Tensor) -> Tensor:
        return self._h * (x.abs() < self.width / 2).to(x.dtype)


@dataclass(frozen=True)
class Erf(Surrogate):
    """Gaussian surrogate: the primitive is ``erfc(-alpha x) / 2`` (SpikingJelly's ``Erf``)."""

    alpha: float = 2.0
    name: ClassVar[str] = "erf"

    def __post_init__(self) -> None:
        _positive("Erf", "alpha", self.alpha)

    def primitive(self, x: Tensor) -> Tensor:
        return torch.special.erfc(-self.alpha * x) / 2

    def grad(self, x: Tensor) -> Tensor:
        return self.alpha / math.sqrt(math.pi) * torch.exp(-((self.alpha * x) ** 2))


#: Registry of surrogate names (aliases included) to classes.
SURROGATES: dict[str, type[Surrogate]] = {
    "sigmoid": Sigmoid,
    "atan": ATan,
    "fast_sigmoid": FastSigmoid,
    "superspike": FastSigmoid,
    "triangle": Triangle,
    "rectangular": Rectangular,
    "erf": Erf,
    "gaussian": Erf,
}


def resolve_surrogate(spec: Surrogate | str | Mapping[str, Any]) -> Surrogate:
    """Turn ``ATan()``, ``"atan"`` or ``{"name": "atan", "alpha": 2.0}`` into a surrogate object."""
    return resolve_named(spec, Surrogate, SURROGATES, "surrogate")
