r"""A recurrently connected LIF population (a reservoir / liquid), event-driven when simulated.

.. math:: I_t = x_t + W s_{t-1}, \qquad (s_t, v_t) = \mathrm{lif\_step}(I_t, v_{t-1})

``x`` is the input current (e.g. from an :class:`~neuro.layers.EventLinear` over all steps), ``W``
the ``(N, N)`` recurrent weights (zeros where there is no synapse) and the LIF step is exactly
:func:`neuro.neurons.lif.lif_step` with the parameters of the ``neuron`` module. The state is
``(v, s)``: membrane and last spikes.

When no gradient is needed and the neuron's options suit the fused kernels (immediate reset,
scalar parameters, CPU float32/float64), the whole simulation runs in
:mod:`neuro.backends._numba_recurrent`: only neurons that spiked deliver input, through their
non-zero synapses. Otherwise (training, other options) a torch loop computes the same maths.

Args:
    size: number of neurons ``N``.
    weight: recurrent weights ``(N, N)`` (row = postsynaptic); ``None`` draws a random sparse matrix
        with connection probability ``p_connect`` and ``N(0, scale^2)`` weights.
    neuron: a :class:`~neuro.neurons.LIF` module giving the neuron parameters (default ``LIF()``).
    learn_weight: make ``W`` a trainable parameter (else a buffer).

Shape:
    input ``(T, B, N)``, output spikes ``(T, B, N)``.

Example:
    >>> import torch
    >>> layer = RecurrentLIF(20, p_connect=0.1, scale=0.5, generator=torch.Generator().manual_seed(0))
    >>> spikes, state = layer(torch.rand(30, 2, 20))
    >>> spikes.shape, state.s.shape
    (torch.Size([30, 2, 20]), torch.Size([2, 20]))
"""

from __future__ import annotations

from typing import ClassVar, NamedTuple

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from neuro import backends
from neuro.errors import BackendError, ShapeError
from neuro.neurons.lif import LIF, LIFState, lif_step

__all__ = ["RecurrentLIF", "RecurrentLIFState", "recurrent_reference"]


class RecurrentLIFState(NamedTuple):
    v: Tensor
    s: Tensor


def recurrent_reference(x: Tensor, state: RecurrentLIFState, params: NamedTuple, weight: Tensor
                        ) -> tuple[Tensor, RecurrentLIFState]:
    """The specification: a torch loop over ``x.unbind(0)`` (differentiable)."""
    v, s = state
    outs = []
    for xt in x.unbind(0):
        s, lif_state = lif_step(xt + F.linear(s, weight), LIFState(v), params)
        v = lif_state.v
        outs.append(s)
    return torch.stack(outs), RecurrentLIFState(v, s)


class RecurrentLIF(nn.Module):
    """LIF neurons with recurrent synapses; see the module docstring."""

    is_sequence: ClassVar[bool] = True
    stateful: ClassVar[bool] = True
    State = RecurrentLIFState

    def __init__(self, size: int, weight: Tensor | None = None, *, neuron: LIF | None = None,
                 p_connect: float = 0.1, scale: float = 0.1, learn_weight: bool = False,
                 generator: torch.Generator | None = None) -> None:
        super().__init__()
        if weight is None:
            mask = torch.rand(size, size, generator=generator) < p_connect
            weight = torch.randn(size, size, generator=generator) * scale * mask
        if weight.shape != (size, size):
            raise ShapeError(f"RecurrentLIF: weight must be ({size}, {size}), got {tuple(weight.shape)}")
        self.size = size
        self.neuron = LIF() if neuron is None else neuron
        if learn_weight:
            self.weight = nn.Parameter(weight.detach().clone())
        else:
            self.register_buffer("weight", weight.detach().clone())

    def initial_state(self, x: Tensor) -> RecurrentLIFState:
        """Resting membrane and no spikes, for one time step of input ``x`` ``(B, N)``."""
        return RecurrentLIFState(self.neuron.initial_state(x).v, torch.zeros_like(x))

    def forward(self, x: Tensor, state: RecurrentLIFState | None = None) -> tuple[Tensor, RecurrentLIFState]:
        if x.dim() != 3 or x.shape[-1] != self.size:
            raise ShapeError(f"RecurrentLIF: expected input (T, B, {self.size}), got {tuple(x.shape)}")
        if state is None:
            state = self.initial_state(x[0].detach())
        params = self.neuron.params()
        fn = None
        if backends.current() != "reference":
            try:
                _, fn = backends.resolve("recurrent_lif", x, state, params, self.weight)
            except BackendError:
                fn = None  # training, or options/devices no kernel handles: the torch loop below
        if fn is None:
            return recurrent_reference(x, state, params, self.weight)
        return fn(x, state, params, self.weight)

    def extra_repr(self) -> str:
        density = (self.weight != 0).float().mean().item()
        return f"size={self.size}, connectivity={density:.3f}"
