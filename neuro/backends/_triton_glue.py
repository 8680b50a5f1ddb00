"""Autograd glue of the Triton LIF-family kernels (:mod:`neuro.backends._triton_lif`).

Saved for backward: the input and the initial state; the backward allocates a ``(T, N)`` scratch
for the recomputed membrane (and one for the synaptic current of CubaLIF) only while it runs.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import Tensor

from neuro.backends import _triton_lif as tk
from neuro.backends._spec import KernelSpec, incoming, lif_scalars, run_sequence, scalar_grads, surrogate_constants

__all__ = ["run_lif_family"]


def _constants(spec: KernelSpec, scalars: tuple[Tensor, ...], like: Tensor) -> Tensor:
    decay, leak, gain, vth, syn_decay, gain_syn = (float(s) for s in scalars)
    k1, k2 = surrogate_constants(spec.surrogate, spec.sg_a, spec.sg_b)
    return torch.tensor([decay, leak, gain, vth, spec.consts["v_reset"], syn_decay, gain_syn, k1, k2],
                        dtype=like.dtype, device=like.device)


def _flags(spec: KernelSpec) -> dict[str, Any]:
    return {"RESET": spec.reset, "DELAYED": spec.delayed, "NO_LEAK": spec.consts.get("no_leak", 0.0) > 0,
            "CUBA": "syn_decay" in spec.scalars}


class _LIFSequence(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, spec: KernelSpec, record: bool, x: Tensor, v0: Tensor, i0: Tensor | None, *scalars: Tensor
                ) -> tuple[Tensor, ...]:
        i0 = torch.zeros_like(v0) if i0 is None else i0
        c = _constants(spec, scalars, x)
        flags = _flags(spec)
        t_len, n = x.shape
        out, v_out, i_out = torch.empty_like(x), torch.empty_like(v0), torch.empty_like(i0)
        v_seq = torch.empty_like(x) if record else x.new_empty(1)
        i_seq = torch.empty_like(x) if record and flags["CUBA"] else x.new_empty(1)
        tk.lif_forward[tk.grid(n)](x, v0, i0, c, out, v_out, i_out, v_seq, i_seq, t_len, n, **flags,
                                   RECORD=record, BLOCK_N=tk.BLOCK)
        ctx.spec, ctx.c = spec, c
        ctx.save_for_backward(x, v0, i0)
        ctx.mark_non_differentiable(v_seq, i_seq)
        return out, v_out, i_out, v_seq, i_seq

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, g_out: Tensor | None, g_v: Tensor | None, g_i: Tensor | None, *_: Any):
        x, v0, i0 = ctx.saved_tensors
        spec: KernelSpec = ctx.spec
        flags = _flags(spec)
        t_len, n = x.shape
        g_out, g_v, g_i = incoming(g_out, x), incoming(g_v, v0), incoming(g_i, i0)
        g_x, g_v0, g_i0 = torch.empty_like(x), torch.empty_like(v0), torch.empty_like(i0)
        h = torch.empty_like(x)
        cur = torch.empty_like(x) if flags["CUBA"] else x.new_empty(1)
        grid = tk.grid(n)
        partial = torch.zeros(grid[0], 6, dtype=x.dtype, device=x.device)
        tk.lif_backward[grid](x, v0, i0, ctx.c, g_out, g_v, g_i, g_x, g_v0, g_i0, h, cur, partial, t_len, n,
                              **flags, DETACH=spec.detach, SURROGATE=spec.surrogate, BLOCK_N=tk.BLOCK)
        sums = partial.sum(0)
        need = ctx.needs_input_grad
        g_scalars = scalar_grads(sums, need[5:], x.dtype)
        return (None, None, g_x if need[2] else None, g_v0 if need[3] else None, g_i0 if need[4] else None,
                *g_scalars)


def run_lif_family(spec: KernelSpec, x: Tensor, state: NamedTuple, record: bool
                   ) -> tuple[Tensor, NamedTuple, NamedTuple | None]:
    """Run a LIF-family neuron described by ``spec`` over ``x`` ``(T, B, ...)`` on the Triton kernels."""
    scalars = lif_scalars(spec, x)
    return run_sequence(_LIFSequence.apply, spec, x, state, record, scalars)
