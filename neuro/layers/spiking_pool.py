r"""Spiking neurons whose spikes are max-pooled, in one module, fused on CPU.

.. math:: (\mathrm{maxpool}_k(s), \mathrm{state}) \text{ where } (s, \mathrm{state}) = \mathrm{neuron}(x)

Exactly ``neuron`` (any LIF-family module: ``LIF``, ``PLIF``, ``IF``, ``CubaLIF``) followed by
:class:`~neuro.layers.MaxPool2d` ``(k)`` (window = stride = ``k``, no padding, floor mode), the usual
``conv -> neuron -> pool`` block of convolutional SNNs. On the ``fused`` backend both run as one
operation (``"spiking_max_pool2d"``): the neuron's full spike map is never written, only the pooled
one and a byte per window saying where its maximum is, and the backward pass routes each window's gradient
there while it runs the neuron's adjoint (see :mod:`neuro.backends._fused_lif_pool`). Otherwise (another
backend or neuron, a non-contiguous input, the neuron's states being recorded by :func:`neuro.simulate`,
or hooks on the parts, as :func:`neuro.analysis.count_ops` registers) the two modules run one after the
other; values and gradients are the same either way.

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
from neuro.errors import BackendError, ConfigError, ShapeError
from neuro.layers.pool import MaxPool2d
from neuro.neurons.base import NeuronModule
from neuro.neurons.lif import LIF

__all__ = ["SpikingMaxPool2d"]


class SpikingMaxPool2d(nn.Module):
    """A LIF-family neuron + :class:`MaxPool2d`, fused when possible; see the module docstring."""

    is_sequence: ClassVar[bool] = True
    stateful: ClassVar[bool] = True

    def __init__(self, kernel_size: int, *, neuron: NeuronModule | None = None) -> None:
        super().__init__()
        if isinstance(kernel_size, bool) or not isinstance(kernel_size, int) or kernel_size < 1:
            raise ConfigError(f"SpikingMaxPool2d: kernel_size must be a positive int, got {kernel_size!r}")
        self.kernel_size = kernel_size
        self.neuron = LIF() if neuron is None else neuron
        if not getattr(self.neuron, "is_sequence", False):
            raise TypeError(f"SpikingMaxPool2d: neuron must be a sequence module such as LIF, got "
                            f"{type(self.neuron).__name__}")
        self.pool = MaxPool2d(kernel_size)

    def forward(self, x: Tensor, state: Any = None) -> tuple[Tensor, Any]:
        k = self.kernel_size
        if x.dim() < 4 or x.shape[-2] < k or x.shape[-1] < k:
            raise ShapeError(f"SpikingMaxPool2d: expected input (T, B, ..., H, W) with H, W >= {k}, got "
                             f"{tuple(x.shape)}")
        if state is None:
            state = self.neuron.initial_state(x[0].detach())
        if backends.current() != "reference" and not observed(self.neuron, self.pool):
            args = (type(self.neuron).step, x, state, self.neuron.params(), k)
            try:
                _, fn = backends.resolve("spiking_max_pool2d", *args)
            except BackendError:
                fn = None
            if fn is not None:
                return fn(*args)
        spikes, state = self.neuron(x, state)
        return self.pool(spikes), state

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}"

    def nir_chain(self) -> list[tuple[str, nn.Module]]:
        """The parts in the order they compute, for export (the neuron, then the pool)."""
        return [("neuron", self.neuron), ("pool", self.pool)]
