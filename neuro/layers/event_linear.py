r"""A linear synapse layer that exploits sparse spike inputs.

:math:`y = x W^\top + b`, exactly :class:`torch.nn.Linear`, but when the input is sparse (spikes)
the forward pass sums only the rows of :math:`W^\top` selected by the non-zero inputs and the
weight gradient scatters the output gradient into only those rows: ``nnz x out_features``
additions instead of ``rows x in_features x out_features`` multiply-adds. The choice is made per
call from the measured input density (``mode="auto"``): at or below ``max_density`` the
event-driven path runs (on a backend that provides ``"event_linear"``, e.g. ``fused``), above it
the dense GEMM. Both give the same result up to float summation order; the input gradient (needed
in hidden layers) is always the dense ``dy @ W``. For training, a binary input is kept for the
weight gradient in compressed form rather than as floats: the int32 indices of its spikes on the
event-driven path, one bit per element when the forward pass runs as a GEMM (the weight gradient is
then the GEMM ``dy^T x`` of the unpacked bits).

The forward gather alone pays up to higher densities than the weight gradient's: a binary input denser than
``max_density`` but at most ``max_forward_density`` dense is gathered in the forward pass and kept as bits,
its weight gradient being the GEMM of the unpacked bits (in inference, where there is no weight gradient, any
input up to ``max_forward_density`` is gathered). The defaults are break-evens measured on a 2-core AMD EPYC
(``neuro bench --only crossover`` prints them for your machine: forward + weight gradient, and forward alone);
after ``neuro bench --only crossover --save-tuning`` the break-evens measured on this machine for the most similar
layer shape are the defaults instead (:mod:`neuro.backends.tuning`).

Args:
    in_features, out_features, bias: as :class:`torch.nn.Linear`.
    mode: ``"auto"`` (choose by density), ``"event"`` (always gather, when a backend offers it) or
        ``"dense"`` (always ``F.linear``).
    max_density: density threshold of ``"auto"`` for the event-driven forward pass and weight gradient (default:
        this machine's tuned break-even, else :data:`DEFAULT_MAX_DENSITY`).
    max_forward_density: density threshold of ``"auto"`` for the event-driven forward pass alone (binary inputs
        when the weight needs a gradient); at least ``max_density`` in effect (default: this machine's tuned
        break-even, else :data:`DEFAULT_MAX_FORWARD_DENSITY`).

Shape:
    input ``(..., in_features)`` (e.g. time-major ``(T, B, in_features)``: all steps in one call),
    output ``(..., out_features)``.

Example:
    >>> import torch
    >>> layer = EventLinear(100, 4)
    >>> x = (torch.rand(25, 8, 100) < 0.05).float()
    >>> torch.allclose(layer(x), torch.nn.functional.linear(x, layer.weight, layer.bias), atol=1e-6)
    True
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar, Literal

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from neuro import backends
from neuro.backends import tuning
from neuro.errors import BackendError, ConfigError, ShapeError

__all__ = ["DEFAULT_MAX_DENSITY", "DEFAULT_MAX_FORWARD_DENSITY", "EventLinear", "choose_path", "shared_input"]

#: Break-even input density of the event-driven path against oneDNN's GEMM (see the module docstring).
DEFAULT_MAX_DENSITY = 0.15
#: Break-even of the forward gather alone (``neuro bench --only crossover``, 2026-11-27, forward in inference: at 30%
#: density 2312 -> 512 features over 3200 rows 48.9 against 59.2 ms and 256 -> 1024 over 8192 rows 29.5 against
#: 33.4 ms; at 40% 69.6 against 60.3 and 34.4 against 35.8 ms).
DEFAULT_MAX_FORWARD_DENSITY = 0.3

_MODES = ("auto", "event", "dense")


def choose_path(mode: str) -> Literal["event", "dense"]:
    """``"dense"`` when ``mode`` or the selected backend (``reference``) asks for the plain GEMM, else ``"event"``
    (the event-driven operation then measures the density and may still decline)."""
    return "dense" if mode == "dense" or backends.current() == "reference" else "event"


class EventLinear(nn.Linear):
    """:class:`torch.nn.Linear` with an event-driven path for sparse inputs; see the module docstring."""

    is_sequence: ClassVar[bool] = True
    stateful: ClassVar[bool] = False

    def __init__(self, in_features: int, out_features: int, bias: bool = True, *,
                 mode: Literal["auto", "event", "dense"] = "auto", max_density: float | None = None,
                 max_forward_density: float | None = None,
                 device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> None:
        super().__init__(in_features, out_features, bias, device=device, dtype=dtype)
        if mode not in _MODES:
            raise ConfigError(f"EventLinear: mode must be one of {_MODES}, got {mode!r}")
        tuned = tuning.event_linear_densities(in_features, out_features)
        if max_density is None:
            max_density = DEFAULT_MAX_DENSITY if tuned is None else tuned[0]
        if max_forward_density is None:
            max_forward_density = DEFAULT_MAX_FORWARD_DENSITY if tuned is None else tuned[1]
        for name, value in (("max_density", max_density), ("max_forward_density", max_forward_density)):
            if not 0.0 <= value <= 1.0:
                raise ConfigError(f"EventLinear: {name} must be in [0, 1], got {value!r}")
        self.mode = mode
        self.max_density = float(max_density)
        self.max_forward_density = float(max_forward_density)

    def forward(self, x: Tensor) -> Tensor:
        if x.shape[-1:] != (self.in_features,):
            raise ShapeError(f"EventLinear: expected input (..., {self.in_features}), got {tuple(x.shape)}")
        x2 = x.reshape(-1, self.in_features)  # (rows, in_features)
        if x2.numel() and choose_path(self.mode) == "event":
            limit = 1.0 if self.mode == "event" else self.max_density
            forward_limit = max(limit, self.max_forward_density)
            try:
                _, fn = backends.resolve("event_linear", x2, self.weight, self.bias, limit, forward_limit)
            except BackendError:
                fn = None  # no backend gathers these inputs (device, dtype, numba missing): dense
            y = None if fn is None else fn(x2, self.weight, self.bias, limit, forward_limit)  # None: too dense
            if y is not None:
                return y.reshape(*x.shape[:-1], self.out_features)
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (f"{super().extra_repr()}, mode={self.mode}, max_density={self.max_density:g}, "
                f"max_forward_density={self.max_forward_density:g}")


def shared_input(x: Tensor, layers: Sequence[EventLinear]) -> list[Tensor]:
    """``[layer(x) for layer in layers]`` with the input scanned and compressed once for all of them.

    The query, key and value projections of a spiking transformer read the same spikes: on a backend with the
    ``"shared_input_linear"`` operation (``fused``) the spikes are counted and compressed once, each layer gathers
    (or multiplies) them, and the backward pass builds the weight gradients' transposed structure (or unpacks the
    spike bits) once and sums the input gradients in one buffer. Same values and gradients as calling the layers one
    by one, up to float summation order. Layers in ``"auto"`` mode with equal thresholds and no hooks or recording on
    them share; otherwise (or on the reference backend) each layer is simply called.

    Example:
        >>> import torch
        >>> q, k, v = (EventLinear(64, 32, bias=False) for _ in range(3))
        >>> s = (torch.rand(4, 8, 64) < 0.1).float()
        >>> outs = shared_input(s, [q, k, v])
        >>> [tuple(o.shape) for o in outs], torch.allclose(outs[1], k(s), atol=1e-6)
        ([(4, 8, 32), (4, 8, 32), (4, 8, 32)], True)
    """
    from neuro.core.recording import observed

    layers = list(layers)
    first = layers[0] if layers else None
    shareable = (first is not None and all(isinstance(m, EventLinear) for m in layers)
                 and len({(m.mode, m.in_features, m.max_density, m.max_forward_density) for m in layers}) == 1
                 and first.mode == "auto" and not observed(*layers))
    if not shareable or x.shape[-1:] != (first.in_features,):
        return [m(x) for m in layers]
    x2 = x.reshape(-1, first.in_features)
    if x2.numel() and choose_path(first.mode) == "event":
        params = [(m.weight, m.bias) for m in layers]
        limit, forward_limit = first.max_density, max(first.max_density, first.max_forward_density)
        try:
            _, fn = backends.resolve("shared_input_linear", x2, params, limit, forward_limit)
        except BackendError:
            fn = None
        ys = None if fn is None else fn(x2, params, limit, forward_limit)
        if ys is not None:
            return [y.reshape(*x.shape[:-1], m.out_features) for y, m in zip(ys, layers, strict=True)]
    return [F.linear(x, m.weight, m.bias) for m in layers]
