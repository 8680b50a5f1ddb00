r"""Resistive-memory (RRAM) device model: pure functions on conductance tensors (siemens).

One cell's life:

1. **Device map** (fixed per physical array, :func:`sample_device_map`): a device-to-device offset
   :math:`\delta_{d2d}\sim\mathcal N(0,\sigma_{d2d}^2)`, a stuck-at fault (ON with probability
   ``p_stuck_on``, OFF with ``p_stuck_off``) and a drift exponent
   :math:`\nu\sim\mathcal N(\nu_0,\sigma_\nu^2)`, clipped at 0.
2. **Programming** (:func:`program`, every write): the target is clipped to the window
   :math:`[G_{min}, G_{max}]` and snapped to one of ``levels`` equally spaced levels (``levels = 0``:
   analogue), then perturbed with the device offset and a fresh cycle-to-cycle draw
   :math:`\epsilon\sim\mathcal N(0,1)`:

   * ``variation = "gaussian"``: :math:`G = G_t + (\delta_{d2d} + \sigma_{c2c}\epsilon)(G_{max}-G_{min})`;
   * ``variation = "lognormal"``: :math:`G = G_t\,\exp(\delta_{d2d} + \sigma_{c2c}\epsilon)`;

   clipped to the window; stuck cells read :math:`G_{max}` (ON) or :math:`G_{min}` (OFF).
   Stochastic **forming** (:func:`form`) instead draws :math:`G` from ``form_distribution`` with mean
   ``form_mean`` and standard deviation ``form_std`` (the LSM's random weights, PAPERS §2.6).
3. **Drift** (:func:`drift`): :math:`G(t) = G(t_0)\,(t/t_0)^{-\nu}` for :math:`t > t_0`.
4. **Read** (:func:`read`, every use): multiplicative noise :math:`G\,(1 + \sigma_r\epsilon)`.

Signed weights use a **differential pair**, :math:`w = k\,(G^+ - G^-)` (:func:`weights_to_pair`,
:func:`pair_to_weights`), and column outputs may pass an ADC (:func:`adc_quantize`).

Example:
    >>> import torch
    >>> p = RRAMParams(g_min=1e-6, g_max=1e-4, levels=4)
    >>> g = program(torch.tensor([2e-5, 9e-5], dtype=torch.float64), p, sample_device_map((2,), p))
    >>> [round(v * 1e6, 6) for v in g.tolist()]          # snapped to the levels 1, 34, 67, 100 uS
    [34.0, 100.0]
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, NamedTuple

import torch
from torch import Tensor

from neuro.errors import ConfigError

__all__ = ["DeviceMap", "RRAMParams", "adc_quantize", "drift", "form", "levels", "pair_to_weights", "program",
           "read", "sample_device_map", "weights_to_pair"]


@dataclass(frozen=True)
class RRAMParams:
    """Device parameters (SI units). Defaults are an ideal device in a 1-100 uS window."""

    g_min: float = 1e-6
    g_max: float = 1e-4
    levels: int = 0
    variation: Literal["gaussian", "lognormal"] = "gaussian"
    d2d_sigma: float = 0.0
    c2c_sigma: float = 0.0
    read_noise: float = 0.0
    drift_nu: float = 0.0
    drift_nu_sigma: float = 0.0
    drift_t0: float = 1.0
    p_stuck_on: float = 0.0
    p_stuck_off: float = 0.0
    form_mean: float = 5e-5
    form_std: float = 1.5e-5
    form_distribution: Literal["gaussian", "lognormal"] = "gaussian"
    adc_bits: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.g_min < self.g_max:
            raise ConfigError(f"RRAMParams: need 0 <= g_min < g_max, got g_min={self.g_min}, g_max={self.g_max}")
        if self.levels == 1 or self.levels < 0:
            raise ConfigError(f"RRAMParams: levels must be 0 (analogue) or >= 2, got {self.levels}")
        for name in ("d2d_sigma", "c2c_sigma", "read_noise", "drift_nu", "drift_nu_sigma", "form_std"):
            if getattr(self, name) < 0:
                raise ConfigError(f"RRAMParams: {name} must be >= 0, got {getattr(self, name)}")
        if not (0 <= self.p_stuck_on and 0 <= self.p_stuck_off and self.p_stuck_on + self.p_stuck_off <= 1):
            raise ConfigError(f"RRAMParams: fault probabilities must be in [0, 1] and sum to <= 1, got "
                              f"p_stuck_on={self.p_stuck_on}, p_stuck_off={self.p_stuck_off}")
        if self.drift_t0 <= 0 or self.form_mean <= 0:
            raise ConfigError("RRAMParams: drift_t0 and form_mean must be > 0")
        if self.variation not in ("gaussian", "lognormal") or self.form_distribution not in ("gaussian", "lognormal"):
            raise ConfigError("RRAMParams: variation and form_distribution must be 'gaussian' or 'lognormal'")
        if self.adc_bits < 0 or self.adc_bits == 1:
            raise ConfigError(f"RRAMParams: adc_bits must be 0 (no ADC) or >= 2, got {self.adc_bits}")

    @property
    def window(self) -> float:
        return self.g_max - self.g_min


class DeviceMap(NamedTuple):
    """Per-cell properties fixed when an array is made: offset, fault (+1 ON, -1 OFF, 0 none), drift exponent."""

    d2d: Tensor
    stuck: Tensor
    nu: Tensor


def _randn(shape: tuple[int, ...], generator: torch.Generator | None, like: Tensor | None = None) -> Tensor:
    kw = {"dtype": like.dtype, "device": like.device} if like is not None else {}
    return torch.randn(shape, generator=generator, **kw)


def sample_device_map(shape: tuple[int, ...] | torch.Size, p: RRAMParams,
                      generator: torch.Generator | None = None) -> DeviceMap:
    """Draw the fixed properties of an array of ``shape`` cells."""
    shape = tuple(shape)
    d2d = p.d2d_sigma * _randn(shape, generator)
    u = torch.rand(shape, generator=generator)
    stuck = torch.where(u < p.p_stuck_on, 1, torch.where(u < p.p_stuck_on + p.p_stuck_off, -1, 0)).to(torch.int8)
    nu = (p.drift_nu + p.drift_nu_sigma * _randn(shape, generator)).clamp_min(0.0)
    return DeviceMap(d2d, stuck, nu)


def levels(p: RRAMParams, dtype: torch.dtype | None = None) -> Tensor:
    """The programmable conductance levels (``levels`` points spanning the window)."""
    if p.levels == 0:
        raise ConfigError("levels(): this device is analogue (levels = 0)")
    return torch.linspace(p.g_min, p.g_max, p.levels, dtype=dtype)


def _faults(g: Tensor, p: RRAMParams, stuck: Tensor) -> Tensor:
    stuck = stuck.to(g.device)
    return torch.where(stuck > 0, torch.full_like(g, p.g_max), torch.where(stuck < 0, torch.full_like(g, p.g_min), g))


def program(target: Tensor, p: RRAMParams, device_map: DeviceMap, generator: torch.Generator | None = None) -> Tensor:
    """Write target conductances once: clip, snap to levels, D2D + C2C variation, clip, faults."""
    g = target.detach().clamp(p.g_min, p.g_max)
    if p.levels:
        step = p.window / (p.levels - 1)
        g = p.g_min + torch.round((g - p.g_min) / step) * step
    eps = _randn(tuple(g.shape), generator, g)
    offset = device_map.d2d.to(g) + p.c2c_sigma * eps
    if p.variation == "gaussian":
        g = g + offset * p.window
    else:
        g = g * torch.exp(offset)
    return _faults(g.clamp(p.g_min, p.g_max), p, device_map.stuck)


def form(shape: tuple[int, ...] | torch.Size, p: RRAMParams, device_map: DeviceMap | None = None,
         generator: torch.Generator | None = None, dtype: torch.dtype | None = None) -> Tensor:
    """Stochastic forming: conductances drawn with mean ``form_mean`` and std ``form_std``, clipped to
    the window (lognormal: the mean- and std-matched lognormal), then the faults of ``device_map``."""
    z = torch.randn(tuple(shape), generator=generator, dtype=dtype)
    if p.form_distribution == "gaussian":
        g = p.form_mean + p.form_std * z
    else:
        s2 = math.log1p((p.form_std / p.form_mean) ** 2)
        g = torch.exp(math.log(p.form_mean) - s2 / 2 + math.sqrt(s2) * z)
    g = g.clamp(p.g_min, p.g_max)
    return g if device_map is None else _faults(g, p, device_map.stuck)


def drift(g: Tensor, t: float | None, p: RRAMParams, device_map: DeviceMap) -> Tensor:
    """Power-law drift to time ``t`` (seconds since programming); stuck cells do not drift."""
    if t is None or t <= p.drift_t0:
        return g
    factor = (t / p.drift_t0) ** (-device_map.nu.to(g))
    return torch.where(device_map.stuck.to(g.device) != 0, g, g * factor)


def read(g: Tensor, p: RRAMParams, generator: torch.Generator | None = None) -> Tensor:
    """One read: multiplicative Gaussian noise ``G (1 + read_noise * eps)``, fresh on every call."""
    if p.read_noise == 0:
        return g
    return g * (1.0 + p.read_noise * _randn(tuple(g.shape), generator, g))


def weights_to_pair(w: Tensor, p: RRAMParams, w_max: float) -> tuple[Tensor, Tensor, float]:
    """Map signed weights to a differential pair: positive part on ``G+``, negative on ``G-``, the
    other device at ``g_min``; ``|w| = w_max`` uses the full window. Returns ``(G+, G-, k)``."""
    if not w_max > 0:
        raise ConfigError(f"weights_to_pair: w_max must be > 0, got {w_max!r}")
    k = w_max / p.window
    gp = p.g_min + w.detach().clamp_min(0.0) / k
    gn = p.g_min + (-w.detach()).clamp_min(0.0) / k
    return gp, gn, k


def pair_to_weights(gp: Tensor, gn: Tensor, k: float) -> Tensor:
    """``w = k (G+ - G-)``."""
    return k * (gp - gn)


def adc_quantize(y: Tensor, bits: int, full_scale: float) -> Tensor:
    """Symmetric mid-tread ``bits``-bit ADC: codes ``-(2**(bits-1)-1) .. 2**(bits-1)-1`` times
    ``step = full_scale / (2**(bits-1)-1)`` (zero is a code, like int8's -127..127); clips outside."""
    if bits < 2 or not full_scale > 0:
        raise ConfigError(f"adc_quantize: need bits >= 2 and full_scale > 0, got {bits}, {full_scale}")
    top = 2 ** (bits - 1) - 1
    step = full_scale / top
    return torch.round(y / step).clamp(-top, top) * step
