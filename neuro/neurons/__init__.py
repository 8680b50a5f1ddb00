"""Neuron models. Each is a Params/State ``NamedTuple`` pair, a pure step function and two modules:
``XCell`` (one time step) and ``X`` (a whole sequence).

:data:`NEURONS` is the registry (tests enumerate it); :func:`build` makes a module from a name, as
experiment TOML files do.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from torch import nn

from neuro.errors import ConfigError, unknown_name
from neuro.neurons.alif import ALIF, ALIFCell, ALIFParameters, ALIFState, alif_step
from neuro.neurons.base import NeuronModule
from neuro.neurons.cuba_lif import CubaLIF, CubaLIFCell, CubaLIFParameters, CubaLIFState, cuba_lif_step
from neuro.neurons.if_ import IF, IFCell, IFParameters, IFState, if_step
from neuro.neurons.izhikevich import (
    Izhikevich,
    IzhikevichCell,
    IzhikevichParameters,
    IzhikevichState,
    izhikevich_step,
)
from neuro.neurons.li import LI, LICell, LIParameters, LIState, li_step
from neuro.neurons.lif import LIF, LIFCell, LIFParameters, LIFState, lif_step
from neuro.neurons.plif import PLIF, PLIFCell


class NeuronSpec(NamedTuple):
    cell: type[NeuronModule]
    sequence: type[NeuronModule]


#: Registry: name -> (single-step class, multi-step class). One line per neuron.
NEURONS: dict[str, NeuronSpec] = {
    "if": NeuronSpec(IFCell, IF),
    "lif": NeuronSpec(LIFCell, LIF),
    "plif": NeuronSpec(PLIFCell, PLIF),
    "alif": NeuronSpec(ALIFCell, ALIF),
    "cuba_lif": NeuronSpec(CubaLIFCell, CubaLIF),
    "li": NeuronSpec(LICell, LI),
    "izhikevich": NeuronSpec(IzhikevichCell, Izhikevich),
}


def build(name: str, *, sequence: bool = True, **kwargs: Any) -> nn.Module:
    """Construct neuron ``name`` (multi-step unless ``sequence=False``) with keyword parameters."""
    spec = NEURONS.get(name.lower())
    if spec is None:
        raise unknown_name("neuron", name, NEURONS)
    cls = spec.sequence if sequence else spec.cell
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise ConfigError(f"neuron {name!r}: {exc}") from None


__all__ = [
    "ALIF", "IF", "LI", "LIF", "NEURONS", "PLIF",
    "ALIFCell", "ALIFParameters", "ALIFState", "CubaLIF", "CubaLIFCell", "CubaLIFParameters", "CubaLIFState",
    "IFCell", "IFParameters", "IFState", "Izhikevich", "IzhikevichCell", "IzhikevichParameters",
    "IzhikevichState", "LICell", "LIFCell", "LIFParameters", "LIFState", "LIParameters", "LIState",
    "NeuronModule", "NeuronSpec", "PLIFCell", "alif_step", "build", "cuba_lif_step", "if_step",
    "izhikevich_step", "li_step", "lif_step",
]
