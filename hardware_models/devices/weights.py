r"""Program-once random weights from stochastically formed RRAM differential pairs.

:class:`RRAMWeights` implements :class:`neuro.core.weight_source.WeightSource`. Each weight is a
differential pair of freshly formed cells, :math:`w = k\,(G^+ - G^-)`, with :math:`G^\pm` drawn from
the card's forming distribution (mean :math:`\mu`, std :math:`\sigma`, clipped to the window, stuck
cells at the window's ends). The gain :math:`k = c / (\sqrt2\,\sigma)` makes unclipped weights
:math:`\mathcal N(0, c^2)`, so ``RRAMWeights(card, c)`` is a drop-in for the software twin
``GaussianWeights(c)``.

Reads: each cell reads :math:`G(1+\sigma_r\epsilon)`, so one read of a weight has variance
:math:`\sigma_r^2 k^2 (G^{+2} + G^{-2})`. :meth:`RRAMWeights.read` sees only :math:`w`, not the pair;
it draws Gaussian noise of the variance conditioned on :math:`w` (exact for unclipped Gaussian
forming, where :math:`G^+ + G^-` is independent of :math:`G^+ - G^-`):
:math:`\sigma_w^2 = \sigma_r^2\,(k^2(2\mu^2 + \sigma^2) + w^2/2)`. Per read this matches the exact
model's distribution given ``w``; what it drops is that a cell's common mode is the same on every
read. For exact per-cell reads keep the pair: :meth:`sample_pair` and :meth:`read_pair`.

Example:
    >>> import torch
    >>> src = RRAMWeights("lsm_40nm", scale=0.07)
    >>> w = src.sample((200, 256), generator=torch.Generator().manual_seed(10))
    >>> round(float(w.std()), 2), tuple(src.read(w).shape)
    (0.07, (200, 256))
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import Tensor

from hardware_models.devices.cards import DeviceCard, load_card
from hardware_models.devices.rram import RRAMParams, form, read, sample_device_map

__all__ = ["RRAMWeights"]


class RRAMWeights:
    """Weight source of stochastically formed RRAM pairs; see the module docstring.

    Args:
        device: a device card name, card path, :class:`DeviceCard` or :class:`RRAMParams`.
        scale: target weight standard deviation ``c`` (the LSM paper's weight constant).
    """

    def __init__(self, device: str | Path | DeviceCard | RRAMParams = "lsm_40nm", scale: float = 1.0) -> None:
        self.params = device if isinstance(device, RRAMParams) else load_card(device).params
        if not scale > 0:
            raise ValueError(f"RRAMWeights: scale must be > 0, got {scale!r}")
        if self.params.form_std <= 0:
            raise ValueError("RRAMWeights: the device's form_std must be > 0 (forming is the randomness)")
        self.scale = float(scale)
        self.gain = self.scale / (math.sqrt(2.0) * self.params.form_std)

    def __repr__(self) -> str:
        return f"RRAMWeights(scale={self.scale:g}, read_noise={self.params.read_noise:g})"

    def sample_pair(self, shape: Sequence[int], *, generator: torch.Generator | None = None,
                    dtype: torch.dtype | None = None) -> tuple[Tensor, Tensor]:
        """Formed conductances ``(G+, G-)`` (siemens) of ``shape`` pairs."""
        shape = tuple(shape)
        gp = form(shape, self.params, sample_device_map(shape, self.params, generator), generator, dtype)
        gn = form(shape, self.params, sample_device_map(shape, self.params, generator), generator, dtype)
        return gp, gn

    def read_pair(self, gp: Tensor, gn: Tensor, *, generator: torch.Generator | None = None) -> Tensor:
        """One exact read of the pair: ``k (G+ (1 + r e1) - G- (1 + r e2))``."""
        return self.gain * (read(gp, self.params, generator) - read(gn, self.params, generator))

    def sample(self, shape: Sequence[int], *, generator: torch.Generator | None = None,
               dtype: torch.dtype | None = None, device: torch.device | str | None = None) -> Tensor:
        gp, gn = self.sample_pair(shape, generator=generator, dtype=dtype)
        w = self.gain * (gp - gn)
        return w if device is None else w.to(device)

    def read(self, weights: Tensor, *, generator: torch.Generator | None = None) -> Tensor:
        p = self.params
        if p.read_noise == 0:
            return weights
        var = self.gain**2 * (2 * p.form_mean**2 + p.form_std**2) + weights.square() / 2
        eps = torch.randn(weights.shape, generator=generator, dtype=weights.dtype)
        return weights + p.read_noise * var.sqrt() * eps.to(weights.device)
