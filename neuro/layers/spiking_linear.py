r"""A linear synapse layer and its spiking neurons in one module, fused for sparse inputs.

.. math:: (s, \mathrm{state}) = \mathrm{neuron}(x W^\top + b)

Exactly :class:`~neuro.layers.EventLinear` followed by ``neuron`` (any LIF-family module: ``LIF``,
``PLIF``, ``IF``, ``CubaLIF``). When the input is sparse enough for the event-driven path and the
neuron suits the fused kernels, both run as one operation (``"spiking_linear"`` on the ``fused``
backend) whose backward overwrites the synaptic current with its gradient: training then keeps
two ``(T, B, out_features)`` buffers at the neuron's backward instead of three. Otherwise (dense
input, another backend or neuron, the neuron's states being recorded by :func:`neuro.simulate`, or
hooks on the parts, as :func:`neuro.analysis.count_ops` registers) it simply runs the two modules one
after the other; the results are the same either way.

Args:
    in_features, out_features, bias: as :class:`torch.nn.Linear`.
    neuron: the neuron module (default :class:`~neuro.neurons.LIF`).
    max_density: input density up to which the event-driven path runs (default: as
        :class:`~neuro.layers.EventLinear`'s, this machine's tuned break-even or the built-in one).
    recompute: on the fused path, keep only the compressed input for the backward pass, which gathers
        the synaptic currents again, block by block of neurons: peak training memory drops by about one
        ``(T, B, out_features)`` buffer for one more gather (default ``False``: keep the currents). Ignored
        where the two modules run one after the other.

Shape:
    input ``(T, B, in_features)``, spikes ``(T, B, out_features)``; the state is the neuron's.

Example:
    >>> import torch
    >>> layer = SpikingLinear(100, 8)
    >>> spikes, state = layer((torch.rand(25, 4, 100) < 0.05).float())
    >>> spikes.shape, state.v.shape
    (torch.Size([25, 4, 8]), torch.Size([4, 8]))
"""

from __future__ import annotations

from typing import Any, ClassVar

from torch import Tensor, nn

from neuro import backends
from neuro.core.recording import observed
from neuro.errors import BackendError, ConfigError, ShapeError
from neuro.layers.event_linear import EventLinear
from neuro.neurons.base import NeuronModule
from neuro.neurons.lif import LIF

__all__ = ["SpikingLinear"]


class SpikingLinear(nn.Module):
    """:class:`EventLinear` + a LIF-family neuron, fused when possible; see the module docstring."""

    is_sequence: ClassVar[bool] = True
    stateful: ClassVar[bool] = True

    def __init__(self, in_features: int, out_features: int, bias: bool = True, *,
                 neuron: NeuronModule | None = None, max_density: float | None = None,
                 recompute: bool = False) -> None:
        super().__init__()
        if not isinstance(recompute, bool):
            raise ConfigError(f"SpikingLinear: recompute must be True or False, got {recompute!r}")
        self.recompute = recompute
        self.linear = EventLinear(in_features, out_features, bias, max_density=max_density)
        self.neuron = LIF() if neuron is None else neuron
        if not getattr(self.neuron, "is_sequence", False):
            raise TypeError(f"SpikingLinear: neuron must be a sequence module such as LIF, got "
                            f"{type(self.neuron).__name__}")

    def forward(self, x: Tensor, state: Any = None) -> tuple[Tensor, Any]:
        if x.dim() != 3 or x.shape[-1] != self.linear.in_features:
            raise ShapeError(f"SpikingLinear: expected input (T, B, {self.linear.in_features}), got {tuple(x.shape)}")
        if state is None:
            state = self.neuron.initial_state(x.new_zeros(x.shape[1], self.linear.out_features))
        if backends.current() != "reference" and not observed(self.linear, self.neuron):
            step, params = type(self.neuron).step, self.neuron.params()
            args = (step, x, self.linear.weight, self.linear.bias, state, params, self.linear.max_density,
                    self.recompute)
            try:
                _, fn = backends.resolve("spiking_linear", *args)
            except BackendError:
                fn = None
            result = None if fn is None else fn(*args)  # None: the input is too dense to gather
            if result is not None:
                return result
        return self.neuron(self.linear(x), state)

    def nir_chain(self) -> list[tuple[str, nn.Module]]:
        """The parts in the order they compute, for export (NIR: an Affine or Linear node, then the neuron)."""
        return [("linear", self.linear), ("neuron", self.neuron)]
