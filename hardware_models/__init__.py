"""Chip and device models: RRAM synapses, chip specifications and energy estimation.

``hardware_models`` may import ``neuro``; ``neuro`` never imports ``hardware_models``.
"""

from hardware_models.chips import CHIPS, ChipSpec, Figure, load_chip
from hardware_models.energy import ALIASES, CONVENTIONS, compare, estimate
from hardware_models.report import EnergyReport, LayerEnergy

__all__ = ["ALIASES", "CHIPS", "CONVENTIONS", "ChipSpec", "EnergyReport", "Figure", "LayerEnergy", "compare",
           "estimate", "load_chip"]
