r"""Spiking neurons whose spikes are max- or average-pooled, in one module, fused on CPU.

.. math:: (\mathrm{pool}_k(s), \mathrm{state}) \text{ where } (s, \mathrm{state}) = \mathrm{neuron}(x)

:class:`SpikingMaxPool2d` is exactly ``neuron`` (any LIF-family module: ``LIF``, ``PLIF``, ``IF``,
``CubaLIF``) followed by :class:`~neuro.layers.MaxPool2d` ``(k)``, :class:`SpikingAvgPool2d` the same with
``nn.AvgPool2d(k)`` (window = stride = ``k``, no padding, floor mode): the usual ``conv -> neuron -> pool``
block of convolutional SNNs. On the ``fused`` backend both run as one operation (``"spiking_max_pool2d"``,
``"spiking_avg_pool2d"``): the neuron's full spike map is never written, only the pooled one (and, for max
pooling, a byte per window saying where its maximum is), and the backward pass routes each window's gradient
while it runs the neuron's adjoint (see :mod:`neuro.backends._fused_lif_pool`). Otherwise (another backend or
neuron, a non-contiguous input, the neuron's states being recorded by :func:`neuro.simulate`, or hooks on the
parts, as :func:`neuro.analysis.count_ops` registers) the two modules run one after the other; values and
gradients are the same either way.

:class:`~neuro.core.sequential.Sequential` does the same by itself for a neuron followed by such a pool
(``LIF(), nn.AvgPool2d(2)``; :func:`~neuro.layers.pool.pool_window` says which pools qualify):
:func:`fused_pair` is its test, so a network keeps its modules (and its state dict and NIR export) and still
runs fused.

Args:
    kernel_size: the pooling window and stride ``k`` (an int).
    neuron: the neuron module (default :class:`~neuro.neurons.LIF`).

Shape:
    input ``(T, B, ..., H, W)`` (typically ``(T, B, C, H, W)``), output ``(T, B, ..., H // k, W // k)``;
    the state is the neuron's, over the unpooled ``(B, ..., H, W)``.

Example:
    >>> import torch
    >>> layer = SpikingMaxPool2d(2)
    >>> spikes, state = layer(torch.rand(8, 4, 3, 10, 10) * 2)
    >>> spikes.shape, state.v.shape
    (torch.Size([8, 4, 3, 5, 5]), torch.Size([4, 3, 10, 10]))
"""

from __future__ import annotations

from typing import Any, ClassVar

from torch import Tensor, nn

from neuro import backends
from neuro.core.recording import observed
from neuro.core.time_distributed import TimeDistributed
from neuro.errors import BackendError, ConfigError, ShapeError
from neuro.layers.pool import MaxPool2d, pool_window
from neuro.neurons.base import NeuronModule
from neuro.neurons.lif import LIF

__all__ = ["SpikingAvgPool2d", "SpikingMaxPool2d", "fused_pair"]


def _run_fused(kind: str, k: int, neuron: nn.Module, pool: nn.Module, x: Tensor, state: Any
               ) -> tuple[Tensor, Any] | None:
    """The fused operation's ``(pooled spikes, state)``, or ``None`` where it does not apply."""
    inner = pool.module if isinstance(pool, TimeDistributed) else pool
    if (backends.current() == "reference" or not isinstance(neuron, NeuronModule) or not neuron.is_sequence
            or x.dim() < 4 or observed(neuron, pool, inner)):
        return None
    if state is None:
        state = neuron.initial_state(x[0].detach())
    args = (type(neuron).step, x, state, neuron.params(), k)
    try:
        _, fn = backends.resolve(f"spiking_{kind}_pool2d", *args)
    except BackendError:
        return None
    return fn(*args)


def fused_pair(neuron: nn.Module, pool: nn.Module, x: Tensor, state: Any) -> tuple[Tensor, Any] | None:
    """``pool(neuron(x, state))`` as one fused operation, ``(pooled spikes, neuron state)``, or ``None`` when the
    pair is not a LIF-family sequence neuron and a pool of :func:`pool_window`, or the fused path does not apply
    (see the module docstring); :class:`~neuro.core.sequential.Sequential` then runs the two modules."""
    window = pool_window(pool)
    if window is None:
        return None
    return _run_fused(*window, neuron, pool, x, state)


class _SpikingPool2d(nn.Module):
    """A LIF-family neuron + a pool, fused when possible; see the module docstring."""

    is_sequence: ClassVar[bool] = True
    stateful: ClassVar[bool] = True
    kind: ClassVar[str] = ""

    def __init__(self, kernel_size: int, *, neuron: NeuronModule | None = None) -> None:
        super().__init__()
        name = type(self).__name__
        if isinstance(kernel_size, bool) or not isinstance(kernel_size, int) or kernel_size < 1:
            raise ConfigError(f"{name}: kernel_size must be a positive int, got {kernel_size!r}")
        self.kernel_size = kernel_size
        self.neuron = LIF() if neuron is None else neuron
        if not getattr(self.neuron, "is_sequence", False):
            raise TypeError(f"{name}: neuron must be a sequence module such as LIF, got {type(self.neuron).__name__}")
        self.pool = MaxPool2d(kernel_size) if self.kind == "max" else nn.AvgPool2d(kernel_size)

    def forward(self, x: Tensor, state: Any = None) -> tuple[Tensor, Any]:
        k = self.kernel_size
        if x.dim() < 4 or x.shape[-2] < k or x.shape[-1] < k:
            raise ShapeError(f"{type(self).__name__}: expected input (T, B, ..., H, W) with H, W >= {k}, got "
                             f"{tuple(x.shape)}")
        fused = _run_fused(self.kind, k, self.neuron, self.pool, x, state)
        if fused is not None:
            return fused
        spikes, state = self.neuron(x, state)
        pooled = self.pool(spikes.reshape(-1, *spikes.shape[-3:]))  # nn.AvgPool2d takes (N, C, H, W) only
        return pooled.reshape(*spikes.shape[:-2], *pooled.shape[-2:]), state

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}"

    def nir_chain(self) -> list[tuple[str, nn.Module]]:
        """The parts in the order they compute, for export (the neuron, then the pool)."""
        return [("neuron", self.neuron), ("pool", self.pool)]


class SpikingMaxPool2d(_SpikingPool2d):
    """A LIF-family neuron + :class:`MaxPool2d`, fused when possible; see the module docstring."""

    kind = "max"


class SpikingAvgPool2d(_SpikingPool2d):
    """A LIF-family neuron + ``nn.AvgPool2d``, fused when possible; see the module docstring."""

    kind = "avg"
