"""Energy reports: per-layer energies by component, the convention that produced them, the chip
figures used (with their sources and statuses) and notes on every modelling choice made.

Example:
    >>> r = EnergyReport("cmos45", "sdt", "first layer once", "fp32", 4,
    ...                  (LayerEnergy("fc", "Linear", "synapse", {"ac": 9e-13}, {"ac": 1.0}),))
    >>> f"{r.total:.2e}", format_energy(r.total)
    ('9.00e-13', '0.900 pJ')
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hardware_models.chips.spec import Figure

__all__ = ["COMPONENTS", "EnergyReport", "LayerEnergy", "format_energy"]

#: Energy components, in the order tables and plots show them.
COMPONENTS: tuple[str, ...] = ("mac", "ac", "neuron", "spike", "weight_mem", "state_mem", "act_mem", "power")


def format_energy(joules: float) -> str:
    """``1.23e-9`` -> ``'1.230 nJ'``."""
    for unit, scale in (("J", 1.0), ("mJ", 1e-3), ("uJ", 1e-6), ("nJ", 1e-9)):
        if abs(joules) >= scale:
            return f"{joules / scale:.3f} {unit}"
    return f"{joules / 1e-12:.3f} pJ"


@dataclass(frozen=True)
class LayerEnergy:
    """Energy of one layer per sample (J, by component) and the operation counts charged."""

    name: str
    module: str
    kind: str
    energy: Mapping[str, float]
    ops: Mapping[str, float] = field(default_factory=dict)

    @property
    def total(self) -> float:
        return float(sum(self.energy.values()))


@dataclass(frozen=True)
class EnergyReport:
    """Per-sample energy of one network on one chip under one named convention."""

    chip: str
    convention: str
    description: str
    precision: str
    time_steps: int
    layers: tuple[LayerEnergy, ...]
    figures: tuple[Figure, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def total(self) -> float:
        """Total energy per sample, joules."""
        return float(sum(layer.total for layer in self.layers))

    def component_totals(self) -> dict[str, float]:
        out = dict.fromkeys(COMPONENTS, 0.0)
        for layer in self.layers:
            for key, value in layer.energy.items():
                out[key] = out.get(key, 0.0) + value
        return {k: v for k, v in out.items() if v}

    def to_dict(self) -> dict[str, Any]:
        return {
            "chip": self.chip, "convention": self.convention, "description": self.description,
            "precision": self.precision, "time_steps": self.time_steps, "total_joules": self.total,
            "components_joules": self.component_totals(),
            "layers": [{"name": x.name, "module": x.module, "kind": x.kind, "total_joules": x.total,
                        "energy_joules": dict(x.energy), "ops": dict(x.ops)} for x in self.layers],
            "figures": [{"key": f.key, "value": f.value, "unit": f.unit, "operation": f.operation,
                         "source": f.source, "status": f.status, "process_nm": f.process_nm} for f in self.figures],
            "notes": list(self.notes),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def table(self) -> str:
        """Plain-text table: one row per layer, one column per non-zero component."""
        comps = [c for c in self.component_totals() if c]
        w = max([5, *(len(x.name) for x in self.layers)]) + 1
        head = f"{'layer':<{w}}{'kind':<10}" + "".join(f"{c:>14}" for c in comps) + f"{'total':>14}"
        rows = [f"chip {self.chip}, convention {self.convention!r} ({self.description}), precision "
                f"{self.precision}, T = {self.time_steps}, energy per sample", head, "-" * len(head)]
        for x in self.layers:
            cells = "".join(f"{format_energy(x.energy.get(c, 0.0)):>14}" for c in comps)
            rows.append(f"{x.name:<{w}}{x.kind:<10}{cells}{format_energy(x.total):>14}")
        totals = self.component_totals()
        rows.append(f"{'total':<{w + 10}}" + "".join(f"{format_energy(totals[c]):>14}" for c in comps)
                    + f"{format_energy(self.total):>14}")
        for f in self.figures:
            rows.append(f"  figure: {f.label()}")
        for note in self.notes:
            rows.append(f"  note: {note}")
        return "\n".join(rows)
