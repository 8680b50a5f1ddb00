"""Layers: encoders and (in their own modules) spiking building blocks."""

from neuro.layers.encoding import ENCODERS, DirectEncoder, LatencyEncoder, PoissonEncoder

__all__ = ["ENCODERS", "DirectEncoder", "LatencyEncoder", "PoissonEncoder"]
