r"""Batch normalisation followed by a spiking neuron, in one module, fused on CPU.

.. math:: (s, \mathrm{state}) = \mathrm{neuron}(\mathrm{norm}(z))

:class:`BatchNormNeuron` is exactly ``norm`` (an ``nn.BatchNorm1d`` or ``nn.BatchNorm2d``: training or running
statistics, affine or not, any momentum) followed by ``neuron`` (any LIF-family module: ``LIF``, ``PLIF``,
``IF``, ``CubaLIF``): the ``conv/linear -> BN -> neuron`` block of the spike-driven transformers and most deep
SNNs. On the ``fused`` backend the two run as one operation (``"batch_norm_neuron"``): the normalisation is
folded into the neuron's kernels as a per-channel scale and shift, so the normalised tensor is never written
nor kept for backward (see :mod:`neuro.backends._fused_bn_lif`). Otherwise (another backend or neuron, a
neuron with learnable scalars, a non-contiguous input, recorded states or hooks on the parts) the two modules
run one after the other. Values and gradients agree with the two modules up to float rounding of the folded
scale and shift.

Layouts (time-major ``z``; ``nn.BatchNorm*`` sees ``T * B`` samples):

* ``nn.BatchNorm2d``: ``z`` ``(T, B, C, H, W)``;
* ``nn.BatchNorm1d``: ``z`` ``(T, B, C)`` or ``(T, B, C, L)``, or with ``channels_last=True`` ``(T, B, ..., C)``
  (tokens: the normalisation over the last dimension, as ``bn(z.reshape(-1, C))``).

Args:
    norm: the batch normalisation.
    neuron: the neuron module (default :class:`~neuro.neurons.LIF`).
    channels_last: ``nn.BatchNorm1d`` over the last dimension of ``z``.

Example:
    >>> import torch
    >>> from torch import nn
    >>> layer = BatchNormNeuron(nn.BatchNorm1d(8), channels_last=True)
    >>> spikes, state = layer(torch.randn(4, 2, 5, 8) * 3)
    >>> spikes.shape, state.v.shape
    (torch.Size([4, 2, 5, 8]), torch.Size([2, 5, 8]))
"""

from __future__ import annotations

from typing import Any, ClassVar

from torch import Tensor, nn

from neuro import backends
from neuro.core.recording import observed
from neuro.errors import BackendError, ConfigError, ShapeError
from neuro.neurons.base import NeuronModule
from neuro.neurons.lif import LIF

__all__ = ["BatchNormNeuron"]


class BatchNormNeuron(nn.Module):
    """``neuron(norm(z))``, fused when possible; see the module docstring."""

    is_sequence: ClassVar[bool] = True
    stateful: ClassVar[bool] = True

    def __init__(self, norm: nn.Module, neuron: NeuronModule | None = None, *, channels_last: bool = False) -> None:
        super().__init__()
        if not isinstance(norm, (nn.BatchNorm1d, nn.BatchNorm2d)):
            raise ConfigError(f"BatchNormNeuron: norm must be nn.BatchNorm1d or nn.BatchNorm2d, got "
                              f"{type(norm).__name__}")
        if channels_last and not isinstance(norm, nn.BatchNorm1d):
            raise ConfigError("BatchNormNeuron: channels_last applies to nn.BatchNorm1d only")
        self.norm = norm
        self.neuron = LIF() if neuron is None else neuron
        if not getattr(self.neuron, "is_sequence", False):
            raise TypeError(f"BatchNormNeuron: neuron must be a sequence module such as LIF, got "
                            f"{type(self.neuron).__name__}")
        self.channels_last = channels_last

    def _inner(self, z: Tensor) -> int:
        """The stride of ``norm``'s channels in ``z[t]`` (checks the shape)."""
        c = self.norm.num_features
        if self.channels_last:
            if z.dim() < 3 or z.shape[-1] != c:
                raise ShapeError(f"BatchNormNeuron: expected input (T, B, ..., {c}), got {tuple(z.shape)}")
            return 1
        want = "(T, B, C, H, W)" if isinstance(self.norm, nn.BatchNorm2d) else "(T, B, C) or (T, B, C, L)"
        dims = (5,) if isinstance(self.norm, nn.BatchNorm2d) else (3, 4)
        if z.dim() not in dims or z.shape[2] != c:
            raise ShapeError(f"BatchNormNeuron: expected input {want} with C = {c}, got {tuple(z.shape)}")
        return z[0, 0, 0].numel()

    def _normalised(self, z: Tensor) -> Tensor:
        if self.channels_last:
            return self.norm(z.reshape(-1, z.shape[-1])).reshape(z.shape)
        return self.norm(z.flatten(0, 1)).reshape(z.shape)

    def forward(self, z: Tensor, state: Any = None) -> tuple[Tensor, Any]:
        if isinstance(self.norm, nn.Identity):  # folded into the layer before it (neuro.interop.fold_batchnorm)
            return self.neuron(z, state)
        inner = self._inner(z)
        neuron = self.neuron
        if (backends.current() != "reference" and isinstance(neuron, NeuronModule) and neuron.is_sequence
                and not observed(neuron, self.norm)):
            init = neuron.initial_state(z[0].detach()) if state is None else state
            args = (type(neuron).step, self.norm, z, inner, init, neuron.params())
            try:
                _, fn = backends.resolve("batch_norm_neuron", *args)
            except BackendError:
                fn = None
            if fn is not None:
                return fn(*args)
        return neuron(self._normalised(z), state)

    def extra_repr(self) -> str:
        return f"channels_last={self.channels_last}"

    def nir_chain(self) -> list[tuple[str, nn.Module]]:
        """The parts in the order they compute, for export (the normalisation, then the neuron)."""
        return [("norm", self.norm), ("neuron", self.neuron)]
