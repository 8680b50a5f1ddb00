"""RRAM device cards: one TOML per device in ``cards/``, every parameter with a source and a status.

::

    name = "lsm_40nm"
    title = "..."
    process_nm = 40
    process_source = "..."

    [params.read_noise]
    value = 0.02
    unit = "1"                     # "S", "s", "1" (dimensionless), "bits", "levels"
    source = "placeholder: PAPERS §2.6 suggests a 1-5 % sweep"
    status = "placeholder"         # see hardware_models.chips.STATUSES

Parameters a card leaves out take the ideal defaults of :class:`RRAMParams`.

Example:
    >>> card = load_card("lsm_40nm")
    >>> card.params.read_noise, card.status("read_noise")
    (0.02, 'placeholder')
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hardware_models.chips.spec import STATUSES
from hardware_models.devices.rram import RRAMParams
from neuro.config import from_mapping, load_toml
from neuro.errors import ConfigError, unknown_name

__all__ = ["CARDS", "DeviceCard", "ParamSource", "load_card"]

CARD_DIR = Path(__file__).resolve().parent / "cards"

#: Registry: device name -> its card. One line per device.
CARDS: dict[str, Path] = {
    "lsm_40nm": CARD_DIR / "lsm_40nm.toml",
    "generic_multilevel": CARD_DIR / "generic_multilevel.toml",
}
_UNITS = ("S", "s", "1", "bits", "levels", "name")


@dataclass(frozen=True)
class ParamSource:
    value: Any
    unit: str
    source: str
    status: str


@dataclass(frozen=True)
class DeviceCard:
    """A device: its :class:`RRAMParams` and where each value came from."""

    name: str
    title: str
    process_nm: float | None
    process_source: str
    params: RRAMParams
    sources: Mapping[str, ParamSource]
    notes: str = ""

    def status(self, param: str) -> str:
        """The status of one parameter (``"default"`` when the card leaves it at the ideal default)."""
        return self.sources[param].status if param in self.sources else "default"


def parse_card(data: Mapping[str, Any], where: str = "card") -> DeviceCard:
    allowed = {"name", "title", "process_nm", "process_source", "notes", "params"}
    unknown = set(data) - allowed
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}; valid: {', '.join(sorted(allowed))}")
    for key in ("name", "title", "process_source", "params"):
        if key not in data:
            raise ConfigError(f"{where}: missing required key {key!r}")
    values: dict[str, Any] = {}
    sources: dict[str, ParamSource] = {}
    for key, entry in data["params"].items():
        at = f"{where}: params.{key}"
        if not isinstance(entry, Mapping) or set(entry) != {"value", "unit", "source", "status"}:
            raise ConfigError(f"{at} must be a table with exactly value, unit, source, status")
        if entry["status"] not in STATUSES:
            raise ConfigError(f"{at}.status: expected one of {', '.join(STATUSES)}, got {entry['status']!r}")
        if entry["unit"] not in _UNITS:
            raise ConfigError(f"{at}.unit: expected one of {', '.join(_UNITS)}, got {entry['unit']!r}")
        if not str(entry["source"]).strip():
            raise ConfigError(f"{at}.source: every parameter needs a source")
        values[key] = entry["value"]
        sources[key] = ParamSource(entry["value"], entry["unit"], str(entry["source"]), entry["status"])
    params = from_mapping(RRAMParams, values, f"{where}: params")
    node = data.get("process_nm")
    return DeviceCard(str(data["name"]), str(data["title"]), None if node is None else float(node),
                      str(data["process_source"]), params, sources, str(data.get("notes", "")))


def load_card(name: str | Path | DeviceCard) -> DeviceCard:
    """The device card called ``name`` (a registry name or a path to a card TOML)."""
    if isinstance(name, DeviceCard):
        return name
    key = str(name)
    if key in CARDS:
        return parse_card(load_toml(CARDS[key]), str(CARDS[key]))
    if key.endswith(".toml"):
        return parse_card(load_toml(key), key)
    raise unknown_name("RRAM device card", name, CARDS)
