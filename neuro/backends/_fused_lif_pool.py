"""A LIF-family neuron and a max or average pool over its spikes as one autograd operation (``spiking_max_pool2d``,
``spiking_avg_pool2d``).

``neuron -> MaxPool2d(k)`` (window = stride = ``k``, no padding, floor mode) on the numba kernels: the
forward pass (:mod:`neuro.backends._numba_lif_pool`) writes only the pooled spikes, never the neuron's
full spike map, and records where each window's maximum is (the first neuron that fired, else the first
neuron, as ``F.max_pool2d`` selects); the backward pass recomputes the membrane as the neuron's own backward
does (:func:`neuro.backends._fused_lif.backward`) and its adjoint kernel routes each window's gradient to
that neuron. Memory kept for backward: the input and the initial state, as for the neuron alone, and one
byte per window (torch's max pool keeps an int64 index). Values and gradients equal the neuron followed by
``F.max_pool2d`` exactly. Average pooling (window = stride, no padding) is the same with each window's spike
count divided by ``k * k`` forward and each window's gradient divided by ``k * k`` to all its neurons backward,
as ``F.avg_pool2d`` divides; nothing is kept for it.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import torch
from torch import Tensor

from neuro.backends import _fused_lif as lif
from neuro.backends import _numba_lif as nk
from neuro.backends import _numba_lif_pool as nkp
from neuro.backends._buffers import empty, empty_like
from neuro.backends._parallel import run_blocks
from neuro.backends._spec import KernelSpec, lif_scalars, scalar_grads

__all__ = ["run_lif_pool"]


class _LIFPoolSequence(torch.autograd.Function):
    """``(pooled spikes (T, P), v_T, i_T)`` of a ``(T, N)`` input whose neurons lie in ``h x w`` planes;
    ``pool = (k, h, w, avg)``: max pooling, or average pooling when ``avg``."""

    @staticmethod
    def forward(ctx: Any, spec: KernelSpec, pool: tuple[int, int, int, bool], x: Tensor, v0: Tensor,
                i0: Tensor | None, *scalars: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        i0 = x.new_zeros(1) if i0 is None else i0  # no synaptic current: the kernels do not read it
        c = lif.constants(spec, scalars, x.dtype)
        k, h, w, avg = pool
        planes = x.shape[1] // (h * w)
        pooled = (x.shape[0], planes * (h // k) * (w // k))
        out = empty(pooled, x.dtype)
        arg = torch.empty((1, 1) if avg else pooled, dtype=torch.uint8)  # average pooling needs no positions
        v_out, i_out = empty_like(v0), empty_like(i0)
        reset, delayed, no_leak, cuba = lif._flags(spec)
        run_blocks(nkp.forward_kernel(reset, delayed, no_leak, cuba, avg), planes, nk.plane_block(h, w),
                   x.detach().numpy(), v0.detach().numpy(), i0.detach().numpy(), c, out.numpy(), arg.numpy(),
                   v_out.numpy(), i_out.numpy(), np.array((k, h, w), dtype=np.int64), work=x.numel())
        ctx.spec, ctx.c, ctx.pool, ctx.avg = spec, c, (k, h, w), avg
        ctx.save_for_backward(x, v0, i0, arg)
        ctx.mark_non_differentiable(arg)
        return out, v_out, i_out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, g_out: Tensor | None, g_v: Tensor | None, g_i: Tensor | None):
        x, v0, i0, arg = ctx.saved_tensors
        need = ctx.needs_input_grad
        g_x, g_v0, g_i0, sums = lif.backward(ctx.spec, ctx.c, x, v0, i0, g_out, g_v, g_i, any(need[5:]),
                                             want_g_v0=need[3], pool=ctx.pool, pool_arg=None if ctx.avg else arg)
        g_scalars = scalar_grads(sums, need[5:], x.dtype)
        return (None, None, g_x if need[2] else None, g_v0 if need[3] else None, g_i0 if need[4] else None,
                *g_scalars)


def run_lif_pool(spec: KernelSpec, x: Tensor, state: NamedTuple, k: int, avg: bool = False
                 ) -> tuple[Tensor, NamedTuple]:
    """``(max_pool2d(spikes, k), final state)`` (``avg_pool2d`` with ``avg``) of a LIF-family neuron over contiguous
    ``x`` ``(T, B, ..., H, W)``."""
    t_len, h, w = x.shape[0], x.shape[-2], x.shape[-1]
    cuba = "syn_decay" in spec.scalars
    v0 = state.v.reshape(-1).contiguous()
    i0 = state.i.reshape(-1).contiguous() if cuba else None
    out, v_out, i_out = _LIFPoolSequence.apply(spec, (k, h, w, bool(avg)), x.reshape(t_len, -1), v0, i0,
                                               *lif_scalars(spec, x))
    step = x.shape[1:]
    fields = (v_out.view(step),) + ((i_out.view(step),) if cuba else ())
    return out.view(t_len, *step[:-2], h // k, w // k), type(state)(*fields)
