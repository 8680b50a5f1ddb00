r"""Weight sources: where a fixed (program-once) weight matrix comes from, and what every read does.

A model that never trains some of its weights (a liquid-state-machine reservoir, a randomly
projected encoder) asks a *weight source* for them instead of drawing them itself, so the same model
runs on ideal software weights or on a device model without importing any hardware code:

* :meth:`WeightSource.sample` is called once, when the weights are *programmed*:
  ``w = source.sample(shape, generator=g)``.
* :meth:`WeightSource.read` is called every time the weights are *used* (every forward pass, every
  time step if the model wishes): ``w_eff = source.read(w, generator=g)``. Ideal sources return
  ``w`` itself; a resistive-memory source (``hardware_models.devices.RRAMWeights``) draws read
  noise.

:class:`GaussianWeights` is the software twin of the resistive-memory LSM (Lin et al., Nat. Comput.
Sci. 2025, script ``lsm_sim_gaussian.py``): :math:`w_{ij} = c\,z_{ij}`, :math:`z_{ij}\sim\mathcal N(0,1)`,
with ``c`` the paper's weight constant ``const``.

Example:
    >>> import torch
    >>> src = GaussianWeights(0.07)
    >>> w = src.sample((200, 256), generator=torch.Generator().manual_seed(10))
    >>> w.shape, src.read(w) is w
    (torch.Size([200, 256]), True)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import torch
from torch import Tensor

__all__ = ["GaussianWeights", "WeightSource", "sample_weights"]


@runtime_checkable
class WeightSource(Protocol):
    """Protocol of a weight source: ``sample`` once, ``read`` on every use."""

    def sample(self, shape: Sequence[int], *, generator: torch.Generator | None = None,
               dtype: torch.dtype | None = None, device: torch.device | str | None = None) -> Tensor:
        """Program-once weights of the given shape."""
        ...

    def read(self, weights: Tensor, *, generator: torch.Generator | None = None) -> Tensor:
        """The weights as seen by one read (identity for ideal weights)."""
        ...


@dataclass(frozen=True)
class GaussianWeights:
    """Ideal Gaussian weights ``scale * N(0, 1)``; reads are exact.

    Args:
        scale: the standard deviation (the LSM paper's weight constant ``const``), > 0.
        mean: optional mean (default 0).
    """

    scale: float
    mean: float = 0.0

    def __post_init__(self) -> None:
        if not self.scale > 0:
            raise ValueError(f"GaussianWeights: scale must be > 0, got {self.scale!r}")

    def sample(self, shape: Sequence[int], *, generator: torch.Generator | None = None,
               dtype: torch.dtype | None = None, device: torch.device | str | None = None) -> Tensor:
        z = torch.randn(tuple(shape), generator=generator, dtype=dtype, device=device)
        return z * self.scale + self.mean

    def read(self, weights: Tensor, *, generator: torch.Generator | None = None) -> Tensor:
        return weights


def sample_weights(source: WeightSource, shape: Sequence[int], *, generator: torch.Generator | None = None,
                   dtype: torch.dtype | None = None, device: torch.device | str | None = None) -> Tensor:
    """``source.sample`` with a clear error when ``source`` is not a weight source."""
    if not isinstance(source, WeightSource):
        raise TypeError(f"expected a WeightSource (an object with sample() and read()), got "
                        f"{type(source).__name__}")
    return source.sample(shape, generator=generator, dtype=dtype, device=device)
