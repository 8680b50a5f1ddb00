"""Resistive-memory devices: the RRAM cell model, device cards, program-once random weights and
crossbar layers (see :mod:`hardware_models.devices.rram` for the equations)."""

from hardware_models.devices.cards import CARDS, DeviceCard, ParamSource, load_card
from hardware_models.devices.crossbar import (
    CrossbarConv2d,
    CrossbarLinear,
    MonteCarloResult,
    crossbar_layers,
    device_weights,
    monte_carlo,
    to_crossbar,
)
from hardware_models.devices.rram import (
    DeviceMap,
    RRAMParams,
    adc_quantize,
    drift,
    form,
    levels,
    pair_to_weights,
    program,
    read,
    sample_device_map,
    weights_to_pair,
)
from hardware_models.devices.weights import RRAMWeights

__all__ = ["CARDS", "CrossbarConv2d", "CrossbarLinear", "DeviceCard", "DeviceMap", "MonteCarloResult",
           "ParamSource", "RRAMParams", "RRAMWeights", "adc_quantize", "crossbar_layers", "device_weights", "drift",
           "form", "levels", "load_card", "monte_carlo", "pair_to_weights", "program", "read", "sample_device_map",
           "to_crossbar", "weights_to_pair"]
