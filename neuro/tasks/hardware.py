"""The face between experiments and ``hardware_models``: weight sources and energy, imported lazily.

``neuro``'s engine never imports ``hardware_models``; experiment tasks reach device models only through the
functions here, which import them inside the call. A ``[weights]`` table names the source:

* ``source = "gaussian"`` — :class:`~neuro.core.weight_source.GaussianWeights` (the software twin);
* ``source = "rram"`` (+ ``card = "lsm_40nm"``, a device-card name or TOML path) —
  ``hardware_models.devices.RRAMWeights``: differential pairs of stochastically formed cells, read noise on
  every read.

Example:
    >>> resolve_weights(WeightsConfig("gaussian"), 0.3)
    GaussianWeights(scale=0.3, mean=0.0)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from torch import Tensor, nn

from neuro.core.weight_source import GaussianWeights, WeightSource
from neuro.errors import ConfigError

__all__ = ["EnergyConfig", "WeightsConfig", "energy_per_sample", "resolve_weights"]


@dataclass(frozen=True)
class WeightsConfig:
    """``[weights]``: ``source`` ``"gaussian"`` or ``"rram"``; ``card`` the RRAM device card."""

    source: Literal["gaussian", "rram"] = "gaussian"
    card: str = "lsm_40nm"


def resolve_weights(cfg: WeightsConfig, scale: float) -> WeightSource:
    """The weight source of ``cfg`` with weight standard deviation ``scale``."""
    if cfg.source == "gaussian":
        return GaussianWeights(scale)
    if cfg.source == "rram":
        from hardware_models.devices import RRAMWeights  # the face may import device models; the engine may not

        return RRAMWeights(cfg.card, scale)
    raise ConfigError(f"weights.source must be 'gaussian' or 'rram', got {cfg.source!r}")


@dataclass(frozen=True)
class EnergyConfig:
    """``[energy]``: chips (names in ``hardware_models.chips.CHIPS``), the energy convention and how many
    test samples the operation counts average over (0 = skip the energy estimate)."""

    chips: tuple[str, ...] = ("rram_imc", "cmos45")
    convention: str = "memory"
    samples: int = 32


def energy_per_sample(model: nn.Module, x: Tensor, cfg: EnergyConfig) -> dict[str, Any]:
    """Operation counts of ``model`` on the batch ``x`` ``(T, B, ...)`` and the energy per sample on each chip.

    Returns ``{"counts": {...}, "chips": {chip: {"total_j", "components_j", "notes"}}}``; a chip that does not
    support the convention is reported with its error instead.
    """
    from hardware_models.energy import estimate
    from neuro.analysis import count_ops

    counts = count_ops(model, x)
    out: dict[str, Any] = {"convention": cfg.convention, "samples": int(x.shape[1]),
                           "counts": {layer.name: {"kind": layer.kind, "macs": layer.macs, "synops": layer.synops,
                                                   "spikes": layer.spikes, "input_rate": layer.input_rate}
                                      for layer in counts},
                           "chips": {}}
    for chip in cfg.chips:
        try:
            report = estimate(counts, chip, cfg.convention)
        except ConfigError as exc:
            out["chips"][chip] = {"error": str(exc)}
            continue
        out["chips"][chip] = {"total_j": report.total, "components_j": report.component_totals(),
                              "notes": list(report.notes)}
    return out

