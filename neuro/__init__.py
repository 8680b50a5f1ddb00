"""neuro: a neuromorphic spiking-network simulator on PyTorch.

Tensors are time-major, ``(T, B, ...)``, everywhere. The flat public API:

    >>> import torch, neuro
    >>> net = neuro.Sequential(torch.nn.Linear(10, 5), neuro.LIF())
    >>> trace = neuro.simulate(net, torch.rand(25, 3, 10), record=True)
    >>> trace.output.shape
    torch.Size([25, 3, 5])
"""

__version__ = "0.1.0"  # before the imports: submodules read it

from neuro import backends
from neuro.analysis import OpCounts, count_ops
from neuro.core import (
    SURROGATES,
    ATan,
    Erf,
    FastSigmoid,
    HardReset,
    NoReset,
    Rectangular,
    Sequential,
    Sigmoid,
    SubtractReset,
    Surrogate,
    TimeDistributed,
    Trace,
    Triangle,
    simulate,
)
from neuro.core.weight_source import GaussianWeights, WeightSource
from neuro.data import DATASETS, build_dataset, collate_time_major
from neuro.errors import (
    BackendError,
    CheckpointError,
    ConfigError,
    DataFormatError,
    NeuroError,
    ShapeError,
    UnknownNameError,
)
from neuro.interop.nir import from_nir, to_nir
from neuro.layers import (
    DirectEncoder,
    EventLinear,
    LatencyEncoder,
    PoissonEncoder,
    RecurrentLIF,
    SpikingAvgPool2d,
    SpikingLinear,
    SpikingMaxPool2d,
)
from neuro.layers.reparam import reparameterize
from neuro.models.lsm import Reservoir
from neuro.models.meta_spikeformer import MetaSpikeFormer
from neuro.models.readout import RidgeReadout
from neuro.models.spike_driven_transformer import SpikeDrivenTransformer
from neuro.neurons import (
    ALIF,
    IF,
    LI,
    LIF,
    NEURONS,
    PLIF,
    ALIFCell,
    CubaLIF,
    CubaLIFCell,
    IFCell,
    Izhikevich,
    IzhikevichCell,
    LICell,
    LIFCell,
    PLIFCell,
)
from neuro.training import TrainConfig, fit, load_checkpoint, save_checkpoint

__all__ = [
    "ALIF",
    "DATASETS",
    "IF",
    "LI",
    "LIF",
    "NEURONS",
    "PLIF",
    "SURROGATES",
    "ALIFCell",
    "ATan",
    "BackendError",
    "CheckpointError",
    "ConfigError",
    "CubaLIF",
    "CubaLIFCell",
    "DataFormatError",
    "DirectEncoder",
    "Erf",
    "EventLinear",
    "FastSigmoid",
    "GaussianWeights",
    "HardReset",
    "IFCell",
    "Izhikevich",
    "IzhikevichCell",
    "LICell",
    "LIFCell",
    "LatencyEncoder",
    "MetaSpikeFormer",
    "NeuroError",
    "NoReset",
    "OpCounts",
    "PLIFCell",
    "PoissonEncoder",
    "Rectangular",
    "RecurrentLIF",
    "Reservoir",
    "RidgeReadout",
    "Sequential",
    "ShapeError",
    "Sigmoid",
    "SpikeDrivenTransformer",
    "SpikingAvgPool2d",
    "SpikingLinear",
    "SpikingMaxPool2d",
    "SubtractReset",
    "Surrogate",
    "TimeDistributed",
    "Trace",
    "TrainConfig",
    "Triangle",
    "UnknownNameError",
    "WeightSource",
    "backends",
    "build_dataset",
    "collate_time_major",
    "count_ops",
    "fit",
    "from_nir",
    "load_checkpoint",
    "reparameterize",
    "save_checkpoint",
    "simulate",
    "to_nir",
]
