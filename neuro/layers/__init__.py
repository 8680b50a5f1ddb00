"""Layers: encoders and (in their own modules) spiking building blocks."""

from neuro.layers.encoding import ENCODERS, DirectEncoder, LatencyEncoder, PoissonEncoder
from neuro.layers.event_conv import EventConv2d
from neuro.layers.event_linear import EventLinear, shared_input
from neuro.layers.norm_neuron import BatchNormNeuron
from neuro.layers.pool import MaxPool2d
from neuro.layers.recurrent import RecurrentLIF
from neuro.layers.spiking_linear import SpikingLinear
from neuro.layers.spiking_pool import SpikingAvgPool2d, SpikingMaxPool2d

__all__ = ["ENCODERS", "BatchNormNeuron", "DirectEncoder", "EventConv2d", "EventLinear", "LatencyEncoder", "MaxPool2d",
           "PoissonEncoder", "RecurrentLIF", "SpikingAvgPool2d", "SpikingLinear", "SpikingMaxPool2d", "shared_input"]
