"""Chip specifications: published per-operation energies, each with its source, status and node.

A chip is one TOML file in ``hardware_models/chips/specs/``::

    name = "loihi"
    title = "Intel Loihi (first generation)"
    kind = "neuromorphic"            # "digital" | "neuromorphic" | "imc"
    process_nm = 14
    process_source = "Davies et al., IEEE Micro 38(1), 2018"
    host = "cmos45"                  # chip whose figures serve what this one cannot do (MACs)

    [[figures.sop]]                  # one table per recorded value; several when sources disagree
    value = 23.6
    unit = "pJ"
    operation = "minimum energy per synaptic spike operation"
    source = "Davies et al., IEEE Micro 2018 (as compiled in ...)"
    status = "secondary"             # see STATUSES
    default = true                   # exactly one default per figure with alternatives

Example:
    >>> fig = Figure("add_fp32", 0.9, "pJ", "fp32 add", "Horowitz, ISSCC 2014", "secondary")
    >>> fig.joules
    9e-13
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from neuro.config import load_toml
from neuro.errors import ConfigError, UnknownNameError

__all__ = ["KINDS", "STATUSES", "UNITS", "ChipSpec", "Figure", "parse_chip"]

#: How far each figure was checked. Reports carry the status of every figure they use.
STATUSES: dict[str, str] = {
    "primary": "checked against the primary source",
    "secondary": "checked against a named secondary source that cites the primary one",
    "derived": "computed from other recorded figures (formula in the note)",
    "unverified": "UNVERIFIED: quoted from memory or an unchecked secondary source",
    "placeholder": "modelling placeholder, not a published value",
}
UNITS: dict[str, float] = {"pJ": 1e-12, "pJ/byte": 1e-12, "mW": 1e-3, "bytes": 1.0}
KINDS = ("digital", "neuromorphic", "imc")
_FIGURE_KEYS = {"value", "unit", "operation", "source", "status", "default", "note", "process_nm"}
_TOP_KEYS = {"name", "title", "kind", "process_nm", "process_source", "process_status", "host", "notes", "figures"}


@dataclass(frozen=True)
class Figure:
    """One recorded value of one figure of a chip."""

    key: str
    value: float
    unit: str
    operation: str
    source: str
    status: str
    default: bool = True
    note: str = ""
    process_nm: float | None = None

    @property
    def joules(self) -> float:
        """The value in SI units (J for energies, W for powers, bytes for sizes)."""
        return self.value * UNITS[self.unit]

    @property
    def verified(self) -> bool:
        return self.status in ("primary", "secondary", "derived")

    def label(self) -> str:
        flag = "" if self.verified else f" [{self.status.upper()}]"
        return f"{self.key} = {self.value:g} {self.unit}{flag} ({self.source})"


@dataclass(frozen=True)
class ChipSpec:
    """A chip: its figures (``key -> alternatives``, the default first) and metadata."""

    name: str
    title: str
    kind: str
    process_nm: float | None
    process_source: str
    figures: Mapping[str, tuple[Figure, ...]]
    process_status: str = "secondary"
    host: str | None = None
    notes: str = ""
    path: Path | None = field(default=None, compare=False)

    def has(self, key: str) -> bool:
        return key in self.figures

    def figure(self, key: str, alternative: int | None = None) -> Figure:
        """The default value of figure ``key`` (or alternative number ``alternative``)."""
        if key not in self.figures:
            raise UnknownNameError(f"chip {self.name!r} has no figure {key!r}; it records: "
                                   f"{', '.join(sorted(self.figures)) or 'none'}")
        values = self.figures[key]
        if alternative is None:
            return values[0]
        if not 0 <= alternative < len(values):
            raise UnknownNameError(f"chip {self.name!r}: figure {key!r} has {len(values)} recorded values, "
                                   f"no alternative {alternative}")
        return values[alternative]


def _figure(key: str, table: Mapping[str, Any], where: str, chip_node: float | None) -> Figure:
    unknown = set(table) - _FIGURE_KEYS
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}; valid: "
                          f"{', '.join(sorted(_FIGURE_KEYS))}")
    for required in ("value", "unit", "operation", "source", "status"):
        if required not in table:
            raise ConfigError(f"{where}: missing required key {required!r}")
    value = table["value"]
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ConfigError(f"{where}.value: expected a non-negative number, got {value!r}")
    if table["unit"] not in UNITS:
        raise ConfigError(f"{where}.unit: expected one of {', '.join(UNITS)}, got {table['unit']!r}")
    if table["status"] not in STATUSES:
        raise ConfigError(f"{where}.status: expected one of {', '.join(STATUSES)}, got {table['status']!r}")
    if not str(table["source"]).strip():
        raise ConfigError(f"{where}.source: every figure needs a source")
    node = table.get("process_nm", chip_node)
    return Figure(key, float(value), table["unit"], str(table["operation"]), str(table["source"]),
                  table["status"], bool(table.get("default", False)), str(table.get("note", "")),
                  None if node is None else float(node))


def parse_chip(data: Mapping[str, Any], path: Path | None = None) -> ChipSpec:
    """Validate a parsed chip TOML and build its :class:`ChipSpec`."""
    where = str(path) if path else "chip"
    unknown = set(data) - _TOP_KEYS
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}; "
                          f"valid: {', '.join(sorted(_TOP_KEYS))}")
    for required in ("name", "title", "kind", "process_source", "figures"):
        if required not in data:
            raise ConfigError(f"{where}: missing required key {required!r}")
    if data["kind"] not in KINDS:
        raise ConfigError(f"{where}: kind must be one of {', '.join(KINDS)}, got {data['kind']!r}")
    node = data.get("process_nm")
    process_status = data.get("process_status", "secondary")
    if node is None and process_status != "unverified":
        raise ConfigError(f"{where}: process_nm is missing; record it, or set process_status = \"unverified\" "
                          f"and say why in process_source")
    figures: dict[str, tuple[Figure, ...]] = {}
    for key, entries in data["figures"].items():
        if not isinstance(entries, list) or not entries:
            raise ConfigError(f"{where}: figures.{key} must be an array of tables ([[figures.{key}]])")
        parsed = [_figure(key, e, f"{where}: figures.{key}[{i}]", node) for i, e in enumerate(entries)]
        defaults = [f for f in parsed if f.default]
        if len(parsed) == 1 and not defaults:
            parsed = [Figure(**{**parsed[0].__dict__, "default": True})]
            defaults = parsed
        if len(defaults) != 1:
            raise ConfigError(f"{where}: figures.{key} records {len(parsed)} values; exactly one must have "
                              f"default = true, found {len(defaults)}")
        figures[key] = (defaults[0], *[f for f in parsed if not f.default])
    return ChipSpec(str(data["name"]), str(data["title"]), data["kind"], None if node is None else float(node),
                    str(data["process_source"]), figures, process_status, data.get("host"),
                    str(data.get("notes", "")), path)


def load_chip_file(path: str | Path) -> ChipSpec:
    """Read and validate one chip TOML file."""
    path = Path(path)
    return parse_chip(load_toml(path), path)
