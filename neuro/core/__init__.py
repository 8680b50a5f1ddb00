"""Core abstractions: surrogates, reset rules, the time loop, state threading and time folding."""

from neuro.core.reset import HardReset, NoReset, ResetRule, SubtractReset, resolve_reset
from neuro.core.sequential import Sequential, is_stateful
from neuro.core.simulate import Trace, simulate
from neuro.core.surrogate import (
    SURROGATES,
    ATan,
    Erf,
    FastSigmoid,
    Rectangular,
    Sigmoid,
    Surrogate,
    Triangle,
    heaviside,
    resolve_surrogate,
)
from neuro.core.time_distributed import TimeDistributed

__all__ = [
    "SURROGATES", "ATan", "Erf", "FastSigmoid", "HardReset", "NoReset", "Rectangular", "ResetRule", "Sequential",
    "Sigmoid", "SubtractReset", "Surrogate", "TimeDistributed", "Trace", "Triangle", "heaviside", "is_stateful",
    "resolve_reset", "resolve_surrogate", "simulate",
]
