"""Chip registry: one TOML per chip in ``specs/``, every figure with a source, status and node.

Example:
    >>> chip = load_chip("cmos45")
    >>> chip.figure("mac_fp32").value, chip.figure("add_fp32").value
    (4.6, 0.9)
"""

from __future__ import annotations

from pathlib import Path

from hardware_models.chips.spec import KINDS, STATUSES, ChipSpec, Figure, load_chip_file, parse_chip
from neuro.errors import unknown_name

__all__ = ["CHIPS", "KINDS", "SPECS", "STATUSES", "ChipSpec", "Figure", "load_chip", "load_chip_file",
           "parse_chip"]

SPECS = Path(__file__).resolve().parent / "specs"

#: Registry: chip name -> its TOML file. One line per chip.
CHIPS: dict[str, Path] = {
    "cmos45": SPECS / "cmos45.toml",
    "loihi": SPECS / "loihi.toml",
    "truenorth": SPECS / "truenorth.toml",
    "tianjic": SPECS / "tianjic.toml",
    "spinnaker2": SPECS / "spinnaker2.toml",
    "speck": SPECS / "speck.toml",
    "rram_imc": SPECS / "rram_imc.toml",
}


def load_chip(name: str | ChipSpec) -> ChipSpec:
    """The chip called ``name`` (a registry name or a path to a chip TOML file)."""
    if isinstance(name, ChipSpec):
        return name
    key = str(name).lower()
    if key in CHIPS:
        spec = load_chip_file(CHIPS[key])
        return spec
    if str(name).endswith(".toml"):
        return load_chip_file(name)
    raise unknown_name("chip", name, CHIPS)
