r"""Fixed synapses driven by events: :class:`FixedSynapses` and the sparse product it runs on.

(Never trained, with weights read from a weight source on every call; the trainable event-driven layer
is :class:`neuro.layers.EventLinear`.)

A fixed weight matrix is stored presynaptic-major, ``weight[j, i]`` = synapse from input ``j`` to output
``i`` (shape ``(in_features, out_features)``), so that one input event selects one contiguous row — its
fan-out. :func:`event_matmul` computes :math:`y_r = \sum_j x_{rj} W_{j\cdot}` by gathering and summing only
the rows of the non-zero inputs (``torch.nn.functional.embedding_bag`` in ``"sum"`` mode, one bag per input
row), so its cost is proportional to the number of events, not to ``in_features``; above a density of
``dense_above`` it falls back to a dense matmul. Both give the same result up to float rounding.

Weights come from a :class:`~neuro.core.weight_source.WeightSource`: sampled once (``sample``) when the
module is built and read (``read``) on every call; the effective weight of a call is
:math:`g\cdot\mathrm{read}(W)\odot M` with gain :math:`g` and connection mask :math:`M`.

Example:
    >>> import torch
    >>> w = torch.tensor([[1.0, 2.0], [10.0, 20.0], [100.0, 200.0]])
    >>> event_matmul(torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]]), w)
    tensor([[101., 202.],
            [ 10.,  20.]])
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from neuro import backends
from neuro.analysis.ops import CallOps, CountOptions
from neuro.core.weight_source import WeightSource, sample_weights
from neuro.errors import BackendError, ShapeError

__all__ = ["FixedSynapses", "event_matmul"]


def event_matmul(x: Tensor, weight: Tensor, dense_above: float = 0.1) -> Tensor:
    """``x @ weight`` for a sparse ``x`` of shape ``(R, in)`` and ``weight`` ``(in, out)``.

    Gathers the fan-out rows of the non-zero entries of ``x`` and sums them per input row (weighted by the
    input value when ``x`` is not binary). Uses a dense matmul when more than ``dense_above`` of ``x`` is
    non-zero. Outside ``neuro.backends.use("reference")`` the ``event_linear`` operation of the fused backend
    runs it when available (parallel compression of ``x`` and cache-sized column blocks; the same sums).
    """
    if x.dim() != 2 or weight.dim() != 2 or x.shape[1] != weight.shape[0]:
        raise ShapeError(f"event_matmul: expected x (R, {weight.shape[0] if weight.dim() == 2 else 'in'}) and "
                         f"weight (in, out), got {tuple(x.shape)} and {tuple(weight.shape)}")
    if backends.current() != "reference" and x.dtype == weight.dtype:
        try:
            _, fused = backends.resolve("event_linear", x, weight.t(), None, dense_above)
        except BackendError:
            fused = None
        y = None if fused is None else fused(x.contiguous(), weight.t(), None, dense_above)
        if y is not None:  # None: x is denser than dense_above
            return y
    rows = x.shape[0]
    idx = x.nonzero()
    n_events = idx.shape[0]
    if n_events == 0:
        return x.new_zeros(rows, weight.shape[1], dtype=weight.dtype)
    if n_events > dense_above * x.numel():
        return x.to(weight.dtype) @ weight
    r, j = idx.unbind(1)
    counts = torch.bincount(r, minlength=rows)
    offsets = counts.cumsum(0) - counts
    values = x[r, j]
    per_sample = None if bool((values == 1).all()) else values.to(weight.dtype)
    return F.embedding_bag(j, weight, offsets, mode="sum", per_sample_weights=per_sample)


class FixedSynapses(nn.Module):
    """A fixed (never trained) linear map ``y = x @ W_eff`` computed event by event.

    Args:
        in_features, out_features: sizes.
        source: where the weights come from (sampled once here, read on every call).
        mask: optional ``(in, out)`` boolean connection mask (absent synapses are 0 on every read).
        gain: scalar applied after each read (e.g. a spectral-radius scaling).
        generator: RNG of the sampling (and of nothing else).
        dense_above: input density above which a dense matmul is used.

    Shape:
        input ``(..., in_features)``, output ``(..., out_features)``.

    Example:
        >>> import torch
        >>> from neuro.core.weight_source import GaussianWeights
        >>> syn = FixedSynapses(4, 3, GaussianWeights(1.0), generator=torch.Generator().manual_seed(0))
        >>> syn(torch.ones(2, 4)).shape
        torch.Size([2, 3])
    """

    def __init__(self, in_features: int, out_features: int, source: WeightSource, *, mask: Tensor | None = None,
                 gain: float = 1.0, generator: torch.Generator | None = None, dense_above: float = 0.1) -> None:
        super().__init__()
        self.in_features, self.out_features = int(in_features), int(out_features)
        self.source = source
        self.dense_above = float(dense_above)
        weight = sample_weights(source, (self.in_features, self.out_features), generator=generator)
        if mask is not None:
            if tuple(mask.shape) != (self.in_features, self.out_features):
                raise ShapeError(f"FixedSynapses: mask has shape {tuple(mask.shape)}, expected "
                                 f"({self.in_features}, {self.out_features})")
            weight = weight * mask
        # reads that return the stored tensor itself are exact: bake the gain in and skip the per-call work
        self.exact_reads = source.read(weight) is weight
        if self.exact_reads:
            weight = weight * gain if gain != 1.0 else weight
            gain = 1.0
        self.gain = float(gain)
        self.register_buffer("weight", weight.contiguous())
        self.register_buffer("mask", None if mask is None or self.exact_reads else mask.clone())

    def extra_repr(self) -> str:
        gain = f", gain={self.gain:g}" if self.gain != 1.0 else ""
        return f"in_features={self.in_features}, out_features={self.out_features}, source={self.source!r}{gain}"

    def read_weight(self, generator: torch.Generator | None = None) -> Tensor:
        """The weights as seen by one read: :math:`g\\cdot\\mathrm{read}(W)\\odot M`."""
        if self.exact_reads:
            return self.weight
        w = self.source.read(self.weight, generator=generator)
        if self.mask is not None:
            w = w * self.mask
        return w * self.gain if self.gain != 1.0 else w

    @property
    def fan_out(self) -> Tensor:
        """Number of existing (non-zero) synapses of each input, ``(in_features,)``."""
        return (self.weight != 0).sum(1)

    def forward(self, x: Tensor, weight: Tensor | None = None) -> Tensor:
        """``x @ W_eff``; ``weight`` overrides the read (to reuse one read for several calls)."""
        if x.shape[-1] != self.in_features:
            raise ShapeError(f"FixedSynapses: expected input (..., {self.in_features}), got {tuple(x.shape)}")
        w = self.read_weight() if weight is None else weight
        lead = x.shape[:-1]
        out = event_matmul(x.reshape(-1, self.in_features), w, self.dense_above)
        return out.reshape(*lead, self.out_features)

    def count_ops(self, inputs: tuple[Any, ...], output: Any, options: CountOptions) -> CallOps:
        """Dense MACs ``rows * in * out``; synaptic operations ``sum_j events_j * fan_out_j`` (each input
        event drives only the synapses that exist)."""
        x = inputs[0].detach().reshape(-1, self.in_features)
        active = x != 0
        events = float(active.sum())
        synops = float(active.sum(0).to(torch.float64) @ self.fan_out.to(torch.float64))
        binary = bool(((x == 0) | (x == 1)).all())
        rows = x.shape[0]
        return CallOps("synapse", macs=float(rows * self.in_features * self.out_features), synops=synops,
                       input_events=events, input_elements=float(x.numel()), input_binary=binary,
                       row_activations=events, outputs=float(rows * self.out_features),
                       params=int((self.weight != 0).sum()), weight_read_bytes=synops * options.weight_bits / 8,
                       act_read_bytes=x.numel() * (1 if binary else options.act_bits) / 8,
                       act_write_bytes=rows * self.out_features * options.act_bits / 8)
