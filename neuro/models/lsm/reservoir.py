r"""The liquid-state-machine reservoir: a fixed, recurrently connected population of LIF neurons.

With input spikes :math:`x_t`, input weights :math:`W_{in}`, recurrent weights :math:`W_{rec}` (both stored
presynaptic-major, see :class:`~neuro.models.lsm.synapses.FixedSynapses`) and decay :math:`\beta`, one step is

.. math::

    h_t = \beta\,v_{t-1} + x_t W_{in} + s_{t-1} W_{rec},\qquad s_t = \Theta(h_t - v_{th}),\qquad
    v_t = \mathrm{reset}(h_t, s_t)

with a hard reset to ``v_reset`` (the MemristorLSM neuron: ``mem = decay * mem * (1 - spike) + I``) or a
subtraction of the threshold. This is neuro's :class:`~neuro.neurons.LIF` with ``decay_input=False``,
``tau_mem = dt / (1 - decay)``, ``v_leak = 0``, plus the recurrent term. The reservoir is never trained: its
forward pass runs without autograd, batched over samples, and its input and recurrent products only touch the
rows of neurons that spiked (:func:`~neuro.models.lsm.synapses.event_matmul`). When weight reads are exact the
input currents of all time steps are computed in one pass before the time loop.

Reads of device weights (``reads``): ``"step"`` reads both arrays once per time step (every sample of the batch
sees that read), ``"call"`` once per forward call.

Example:
    >>> import torch
    >>> res = Reservoir(16, 50, decay=0.9, v_threshold=1.0, weights=GaussianWeights(0.5), seed=0)
    >>> spikes, state = res((torch.rand(20, 4, 16) < 0.2).float())
    >>> spikes.shape, state.v.shape
    (torch.Size([20, 4, 50]), torch.Size([4, 50]))
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal, NamedTuple

import torch
from torch import Tensor, nn

from neuro.analysis.ops import CallOps, CountOptions
from neuro.core.recording import current_recorder, observed
from neuro.core.weight_source import GaussianWeights, WeightSource
from neuro.errors import ConfigError, ShapeError
from neuro.models.lsm import kernels
from neuro.models.lsm.connectivity import (
    Connectivity,
    apply_dale,
    excitatory_mask,
    input_mask,
    recurrent_mask,
    spectral_radius,
)
from neuro.models.lsm.synapses import FixedSynapses

__all__ = ["LSMState", "Reservoir"]


class LSMState(NamedTuple):
    """Membrane after the reset ``v`` and the spikes ``s`` of the last step, both ``(B, n)``."""

    v: Tensor
    s: Tensor


class Reservoir(nn.Module):
    r"""Fixed recurrent LIF population; see the module docstring.

    Args:
        n_inputs: input features per step (the input is flattened after ``(T, B)``).
        n_neurons: reservoir size.
        decay: membrane decay :math:`\beta` per step (``tau_mem = dt / (1 - decay)``).
        v_threshold, v_reset: threshold and reset value.
        reset: ``"hard"`` (to ``v_reset``) or ``"subtract"``.
        weights: weight source of the recurrent matrix (and of the input matrix unless ``input_weights``).
        input_weights: weight source of the input matrix.
        connectivity: recurrent wiring (:class:`~neuro.models.lsm.connectivity.Connectivity`).
        input_p: probability that an input connects to a neuron (1 = all-to-all).
        recurrent: set ``False`` for a feed-forward population (no recurrent matrix).
        reads: ``"step"`` or ``"call"``, when device weights are read (see the module docstring).
        seed: seed of the weight sampling (``None``: torch's global RNG).
        dense_above: input density above which dense products are used.

    Shape:
        input ``(T, B, *)`` with ``prod(*) == n_inputs``; output spikes ``(T, B, n_neurons)``.
    """

    is_sequence: ClassVar[bool] = True
    stateful: ClassVar[bool] = True
    output_name: ClassVar[str] = "spikes"
    State = LSMState

    def __init__(self, n_inputs: int, n_neurons: int = 200, *, decay: float = 0.9, v_threshold: float = 5.0,
                 v_reset: float = 0.0, reset: Literal["hard", "subtract"] = "hard",
                 weights: WeightSource | None = None, input_weights: WeightSource | None = None,
                 connectivity: Connectivity | None = None, input_p: float = 1.0, recurrent: bool = True,
                 reads: Literal["step", "call"] = "step", seed: int | None = None,
                 dense_above: float = 0.1) -> None:
        super().__init__()
        if n_inputs < 1 or n_neurons < 1:
            raise ConfigError(f"Reservoir: n_inputs and n_neurons must be >= 1, got {n_inputs}, {n_neurons}")
        if not 0.0 <= decay <= 1.0:
            raise ConfigError(f"Reservoir: decay must be in [0, 1], got {decay!r}")
        if reset not in ("hard", "subtract"):
            raise ConfigError(f"Reservoir: reset must be 'hard' or 'subtract', got {reset!r}")
        if reads not in ("step", "call"):
            raise ConfigError(f"Reservoir: reads must be 'step' or 'call', got {reads!r}")
        self.n_inputs, self.n_neurons = int(n_inputs), int(n_neurons)
        self.decay, self.v_threshold, self.v_reset = float(decay), float(v_threshold), float(v_reset)
        self.reset, self.reads = reset, reads
        self.connectivity = connectivity or Connectivity()
        weights = weights or GaussianWeights(0.07)
        g = None if seed is None else torch.Generator().manual_seed(int(seed))
        conn = self.connectivity
        exc = excitatory_mask(self.n_neurons, conn.excitatory_fraction, g) if conn.excitatory_fraction > 0 else None
        self.register_buffer("excitatory", exc)
        in_mask = None if input_p >= 1.0 else input_mask(self.n_inputs, self.n_neurons, input_p, g)
        self.input = FixedSynapses(self.n_inputs, self.n_neurons, input_weights or weights, mask=in_mask,
                                 generator=g, dense_above=dense_above)
        self.recurrent: FixedSynapses | None = None
        if recurrent:
            mask = recurrent_mask(self.n_neurons, conn, exc, g)
            self.recurrent = FixedSynapses(self.n_neurons, self.n_neurons, weights, mask=mask, generator=g,
                                         dense_above=dense_above)
            if exc is not None:
                self.recurrent.weight = apply_dale(self.recurrent.weight, exc, conn.inhibitory_gain)
            if conn.spectral_radius > 0:
                rho = spectral_radius(self.recurrent.weight)
                if rho > 0:
                    factor = conn.spectral_radius / rho
                    if self.recurrent.exact_reads:
                        self.recurrent.weight = self.recurrent.weight * factor
                    else:
                        self.recurrent.gain *= factor

    @classmethod
    def from_weights(cls, w_in: Tensor, w_rec: Tensor | None = None, **kwargs: Any) -> Reservoir:
        """A reservoir with given ``(n_in, n)`` input and ``(n, n)`` recurrent weights (exact reads)."""
        res = cls(w_in.shape[0], w_in.shape[1], recurrent=w_rec is not None, **kwargs)
        res.input.weight = w_in.detach().clone().contiguous()
        if w_rec is not None:
            if tuple(w_rec.shape) != (w_in.shape[1], w_in.shape[1]):
                raise ShapeError(f"Reservoir.from_weights: w_rec has shape {tuple(w_rec.shape)}, expected "
                                 f"({w_in.shape[1]}, {w_in.shape[1]})")
            res.recurrent.weight = w_rec.detach().clone().contiguous()
        return res

    def extra_repr(self) -> str:
        return (f"n_inputs={self.n_inputs}, n_neurons={self.n_neurons}, decay={self.decay:g}, "
                f"v_threshold={self.v_threshold:g}, reset={self.reset!r}, reads={self.reads!r}, "
                f"connectivity={self.connectivity.kind!r}")

    def reset_parameters(self) -> None:
        """Nothing to reset: the reservoir's weights are programmed once, when it is built."""

    def initial_state(self, x_t: Tensor) -> LSMState:
        """Resting state for one step of input ``(B, n_inputs)``."""
        b = x_t.shape[0]
        dtype = self.input.weight.dtype
        v = torch.full((b, self.n_neurons), self.v_reset, dtype=dtype, device=x_t.device)
        return LSMState(v, torch.zeros(b, self.n_neurons, dtype=dtype, device=x_t.device))

    def _check(self, x: Tensor, state: LSMState | None) -> tuple[Tensor, LSMState]:
        if x.dim() < 3:
            raise ShapeError(f"Reservoir: expected time-major input (T, B, ...), got shape {tuple(x.shape)}")
        x = x.reshape(x.shape[0], x.shape[1], -1)
        if x.shape[-1] != self.n_inputs:
            raise ShapeError(f"Reservoir: one time step of the input has {x.shape[-1]} features, expected "
                             f"{self.n_inputs}")
        if state is None:
            return x, self.initial_state(x[0])
        if not isinstance(state, LSMState) or state.v.shape != (x.shape[1], self.n_neurons):
            raise ShapeError(f"Reservoir: state must be an LSMState of (B, n) = ({x.shape[1]}, {self.n_neurons}) "
                             f"tensors")
        return x, state

    @property
    def spectral_radius(self) -> float:
        """Spectral radius of the (ideal, noiseless) effective recurrent matrix."""
        if self.recurrent is None:
            return 0.0
        return spectral_radius(self.recurrent.weight * self.recurrent.gain)

    def forward(self, x: Tensor, state: LSMState | None = None) -> tuple[Tensor, LSMState]:
        with torch.no_grad():
            return self._run(*self._check(x, state))

    def _run(self, x: Tensor, state: LSMState) -> tuple[Tensor, LSMState]:
        rec = current_recorder()
        record = rec is not None and rec.wants(self)
        exact = self.input.exact_reads and (self.recurrent is None or self.recurrent.exact_reads)
        # hooks on the synapses (e.g. count_ops) must see every call: run module by module then
        if (exact or self.reads == "call") and not observed(self.input, self.recurrent):
            w_in = self.input.read_weight()
            w_rec = None if self.recurrent is None else self.recurrent.read_weight()
            _, loop = kernels.select(x, w_in)
            out, v, vs = loop(x, w_in, w_rec, state.v, state.s, decay=self.decay, v_threshold=self.v_threshold,
                              v_reset=self.v_reset, subtract=self.reset == "subtract", record_v=record,
                              dense_above=self.input.dense_above)
        else:
            out, v, vs = self._module_loop(x, state, per_step_reads=not exact and self.reads == "step",
                                           record_v=record)
        if record:
            rec.put_sequence(self, out, LSMState(vs, out))
        return out, LSMState(v, out[-1].clone() if out.shape[0] else state.s)

    def _module_loop(self, x: Tensor, state: LSMState, per_step_reads: bool,
                     record_v: bool) -> tuple[Tensor, Tensor, Tensor | None]:
        """The update with one call of the synapse modules per use (per step when reads are per step)."""
        steps = x.shape[0]
        if not per_step_reads:
            currents = self.input(x, self.input.read_weight())  # (T, B, n): every step's input in one pass
            w_rec = None if self.recurrent is None else self.recurrent.read_weight()
        v, s = state
        out = v.new_empty(steps, *v.shape)
        vs = v.new_empty(steps, *v.shape) if record_v else None
        beta, vth, subtract = self.decay, self.v_threshold, self.reset == "subtract"
        for t in range(steps):
            if per_step_reads:
                h = self.input(x[t])
                if self.recurrent is not None:
                    h = h + self.recurrent(s)
            else:
                h = currents[t]  # a row of a temporary buffer: updated in place below
                if self.recurrent is not None:
                    h = h + self.recurrent(s, w_rec)
            h.add_(v, alpha=beta)  # h = beta v + I
            fired = h >= vth
            if subtract:
                h.sub_(fired.to(h.dtype), alpha=vth)
            else:
                h.masked_fill_(fired, self.v_reset)
            v = h
            out[t] = fired
            s = out[t]
            if vs is not None:
                vs[t] = v
        return out, v.clone(), vs

    def count_ops(self, inputs: tuple[Any, ...], output: Any, options: CountOptions) -> CallOps:
        """The neuron updates and spikes of the population (its synapses count themselves)."""
        spikes = output[0]
        n = float(spikes.numel())
        state_bytes = n * 1 * options.state_bits / 8
        return CallOps("neuron", input_events=0.0, input_elements=n, input_binary=False, outputs=n,
                       state_updates=n, state_vars=1, spikes=float(torch.count_nonzero(spikes)),
                       state_read_bytes=state_bytes, state_write_bytes=state_bytes,
                       act_read_bytes=n * options.act_bits / 8, act_write_bytes=n / 8)
