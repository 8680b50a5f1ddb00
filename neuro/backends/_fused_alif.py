"""Autograd glue of the fused CPU kernels for the adaptive LIF neuron (:mod:`neuro.backends._numba_alif`).

Memory kept for backward: the input and the initial state; the backward recomputes the rest.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import torch
from torch import Tensor

from neuro.backends import _numba_alif as nk
from neuro.backends._buffers import empty_like
from neuro.backends._numba_lif import kernel_surrogate
from neuro.backends._parallel import blocks, run_blocks
from neuro.backends._spec import KernelSpec, SequenceLayout, incoming, scalar_grads

__all__ = ["run_alif"]

_SCALARS = ("decay", "leak", "gain", "v_threshold", "adapt_decay")


def _np(t: Tensor) -> np.ndarray:
    return t.detach().numpy()


def _constants(spec: KernelSpec, scalars: tuple[Tensor, ...], dtype: torch.dtype) -> np.ndarray:
    decay, leak, gain, vth, adecay = (float(s) for s in scalars)
    k = spec.consts
    return np.array([decay, leak, gain, vth, adecay, k["v_reset"], k["beta_adapt"]],
                    dtype=np.float32 if dtype == torch.float32 else np.float64)


class _ALIFSequence(torch.autograd.Function):
    """``(spikes, v_T, a_T, v_seq, a_seq)``; the sequences are filled only when ``record`` (never differentiable)."""

    @staticmethod
    def forward(ctx: Any, spec: KernelSpec, record: bool, x: Tensor, v0: Tensor, a0: Tensor, *scalars: Tensor
                ) -> tuple[Tensor, ...]:
        c = _constants(spec, scalars, x.dtype)
        out, v_out, a_out = empty_like(x), empty_like(v0), empty_like(a0)
        v_seq = empty_like(x) if record else x.new_empty(1, 1)
        a_seq = empty_like(x) if record else x.new_empty(1, 1)
        run_blocks(nk.forward_kernel(spec.reset, record), x.shape[1], nk.BLOCK, _np(x), _np(v0), _np(a0), c,
                   _np(out), _np(v_out), _np(a_out), _np(v_seq), _np(a_seq), work=x.numel())
        ctx.spec, ctx.c = spec, c
        ctx.save_for_backward(x, v0, a0)
        ctx.mark_non_differentiable(v_seq, a_seq)
        return out, v_out, a_out, v_seq, a_seq

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, g_out: Tensor | None, g_v: Tensor | None, g_a: Tensor | None, *_: Any):
        x, v0, a0 = ctx.saved_tensors
        spec: KernelSpec = ctx.spec
        g_out, g_v, g_a = incoming(g_out, x), incoming(g_v, v0), incoming(g_a, a0)
        g_x, g_v0, g_a0 = empty_like(x), empty_like(v0), empty_like(a0)
        bm = nk.backward_block(x.shape[0])
        partial = np.zeros((blocks(x.shape[1], bm), 5), dtype=np.float64)
        sg = np.array(nk.surrogate_constants(spec.surrogate, spec.sg_a, spec.sg_b), dtype=ctx.c.dtype)
        need = ctx.needs_input_grad
        surrogate = kernel_surrogate(spec.surrogate, ctx.c.dtype)
        kernel = nk.backward_kernel(spec.reset, spec.detach, surrogate, any(need[5:]))
        unused = np.empty((1, 1), ctx.c.dtype)
        run_blocks(kernel, x.shape[1], bm, _np(x), _np(v0), _np(a0), ctx.c, sg, unused, _np(g_out), _np(g_v),
                   _np(g_a), _np(g_x), _np(g_v0), _np(g_a0), partial, work=x.numel())
        sums = partial.sum(axis=0)
        g_scalars = scalar_grads(sums, need[5:], x.dtype)
        return (None, None, g_x if need[2] else None, g_v0 if need[3] else None, g_a0 if need[4] else None,
                *g_scalars)


def run_alif(spec: KernelSpec, x: Tensor, state: NamedTuple, record: bool
             ) -> tuple[Tensor, NamedTuple, NamedTuple | None]:
    """Run the adaptive LIF neuron over ``x`` ``(T, B, ...)`` on the fused kernels."""
    layout = SequenceLayout.of(x)
    scalars = tuple(spec.scalars[k] for k in _SCALARS)
    out, v_out, a_out, v_seq, a_seq = _ALIFSequence.apply(spec, record, layout.flat(x), layout.flat_state(state.v),
                                                          layout.flat_state(state.a), *scalars)
    seqs = type(state)(layout.unflat(v_seq), layout.unflat(a_seq)) if record else None
    return layout.unflat(out), type(state)(layout.unflat_state(v_out), layout.unflat_state(a_out)), seqs
