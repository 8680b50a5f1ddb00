"""Workload W4: liquid-state-machine inference.

Sparse input spikes (``inputs`` channels at ``density_pct``) drive ``neurons`` LIF neurons through
dense input weights; the neurons are recurrently connected with probability ``p_rec_pct``; the
reservoir is simulated for ``T`` steps on ``B`` samples without gradients. Every implementation
gets the same weights and input. Peers compute the input projection for all steps at once, then
loop ``I_t = W_in x_t + W_rec s_{t-1}`` through their neuron; neuro uses
:class:`~neuro.layers.EventLinear` and :class:`~neuro.layers.RecurrentLIF` (event-driven on CPU).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from neuro.bench.peers import cell, input_scale
from neuro.bench.workloads import Case

__all__ = ["lsm", "lsm_weights"]


def lsm_weights(size: dict[str, int], seed: int = 0) -> tuple[Tensor, Tensor, Tensor]:
    """``(x (T, B, K) spikes, W_in (N, K), W_rec (N, N))`` in float64."""
    t, b, k, n = size["T"], size["B"], size["inputs"], size["neurons"]
    g = torch.Generator().manual_seed(seed)
    x = (torch.rand(t, b, k, generator=g, dtype=torch.float64) < size.get("density_pct", 2) / 100).double()
    active = max(1.0, k * size.get("density_pct", 2) / 100)
    w_in = torch.randn(n, k, generator=g, dtype=torch.float64) * (0.5 / active**0.5) + 0.4 / active
    fan_in = max(1.0, n * size.get("p_rec_pct", 10) / 100)
    mask = torch.rand(n, n, generator=g, dtype=torch.float64) < size.get("p_rec_pct", 10) / 100
    w_rec = (torch.randn(n, n, generator=g, dtype=torch.float64) * (1.0 / fan_in**0.5) - 1.0 / fan_in) * mask
    return x, w_in, w_rec


def lsm(impl: str, size: dict[str, int], dtype: torch.dtype, seed: int = 0) -> Case:
    """W4 in one implementation: ``step()`` simulates the reservoir once (no gradients)."""
    x, w_in, w_rec = lsm_weights(size, seed)
    x = x.to(dtype)
    scale = input_scale(impl)
    if impl == "neuro":
        from neuro import LIF
        from neuro.layers import EventLinear, RecurrentLIF

        proj = EventLinear(w_in.shape[1], w_in.shape[0], bias=False).to(dtype)
        with torch.no_grad():
            proj.weight.copy_(w_in)
        lif = LIF(tau_mem=2e-3, dt=1e-3, decay_input=False, reset="hard", detach_reset=True, surrogate="atan")
        reservoir = RecurrentLIF(w_rec.shape[0], w_rec.to(dtype), neuron=lif)

        def simulate() -> Tensor:
            with torch.no_grad():
                return reservoir(proj(x))[0]
    else:
        proj = nn.Linear(w_in.shape[1], w_in.shape[0], bias=False).to(dtype)
        with torch.no_grad():
            proj.weight.copy_(w_in * scale)
        rec = (w_rec * scale).to(dtype)
        step, init = cell(impl)

        def simulate() -> Tensor:
            with torch.no_grad():
                current = proj(x)  # (T, B, N): all steps at once
                s = torch.zeros_like(current[0])
                state = init(current[0])
                out = []
                for it in current.unbind(0):
                    s, state = step(it + F.linear(s, rec), state)
                    out.append(s)
                return torch.stack(out)

    return Case(simulate, lambda: {"reservoir": simulate()})
