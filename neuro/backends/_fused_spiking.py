"""Fused event-driven linear layer + LIF-family neuron (the ``spiking_linear`` operation).

One autograd node does ``y = x W^T + b`` by gathering (:mod:`neuro.backends._fused_event`) and runs
the neuron's fused kernel (:mod:`neuro.backends._fused_lif`) on ``y``. Because ``y`` never leaves
the node, the neuron's backward writes ``dL/dy`` over ``y`` in place: training keeps two ``(T, N)``
buffers at the neuron's backward (``y``/``dy`` and the incoming spike gradient) instead of three —
about a third less peak memory on a spiking MLP layer.

Recomputation (``recompute=True``): the layer's neurons are independent, so forward and backward run
block by block of :data:`~neuro.backends._fused_event.COLUMNS` neurons. The forward keeps only the
compressed input; the backward gathers each block's ``y`` again, runs the neuron's backward on it and
fills the block's columns of the weight gradient. ``y`` then never exists for more than one block at a
time: one more gather of compute for a ``(T, B, N)`` buffer less in memory. Results equal the
unrecomputed ones exactly but for the order of the scalar-gradient sums.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import torch
from torch import Tensor

from neuro.backends import _fused_lif as lif
from neuro.backends._buffers import empty
from neuro.backends._fused_event import COLUMNS, RowScan, _gather, _to_csc, currents, input_grad, row_counts, to_csr
from neuro.backends._spec import KernelSpec, lif_scalars, scalar_grads

__all__ = ["spiking_linear"]



class _SpikingLinear(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, spec: KernelSpec, t_len: int, scanned: RowScan, recompute: bool, x: Tensor,
                weight: Tensor, bias: Tensor | None, v0: Tensor, i0: Tensor, *scalars: Tensor
                ) -> tuple[Tensor, Tensor, Tensor]:
        csr = to_csr(x, scanned)
        c = lif.constants(spec, scalars, x.dtype)
        ctx.spec, ctx.c, ctx.csr, ctx.k, ctx.recompute = spec, c, csr, x.shape[1], recompute
        ctx.batch = x.shape[0] // t_len
        ctx.has_bias = bias is not None
        ctx.save_for_backward(weight, v0, i0, bias)
        if recompute:
            return _blockwise_forward(ctx, t_len, weight, bias, v0, i0)
        y = currents(csr, weight.detach().t(), bias).view(t_len, -1)  # (T, B*N): neuron layout
        out, v_out, i_out, _, _ = lif.forward(spec, c, y, v0, i0)
        ctx.y = y  # owned by this node: the backward overwrites it with its gradient
        return out, v_out, i_out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, g_out: Tensor | None, g_v: Tensor | None, g_i: Tensor | None) -> tuple[Any, ...]:
        if ctx.recompute:
            return _blockwise_backward(ctx, g_out, g_v, g_i)
        weight, v0, i0, _ = ctx.saved_tensors
        need = ctx.needs_input_grad
        y = ctx.y
        ctx.y = None
        g_y, g_v0, g_i0, sums = lif.backward(ctx.spec, ctx.c, y, v0, i0, g_out, g_v, g_i, any(need[9:]), g_x=y)
        g_y = g_y.view(-1, weight.shape[0])  # (T*B, N), in y's storage
        gx = input_grad(g_y, weight) if need[4] else None
        gw = None
        if need[5]:
            colptr, rows, col_values = _to_csc(*ctx.csr, ctx.k)
            gw = _gather(rows, g_y, colptr, col_values, transposed=True)
        gb = g_y.sum(0) if ctx.has_bias and need[6] else None
        return _grads(ctx, gx, gw, gb, g_v0, g_i0, sums, y.dtype)


def _grads(ctx: Any, gx: Tensor | None, gw: Tensor | None, gb: Tensor | None, g_v0: Tensor, g_i0: Tensor,
           sums: np.ndarray, dtype: torch.dtype) -> tuple[Any, ...]:
    need = ctx.needs_input_grad
    g_scalars = scalar_grads(sums, need[9:], dtype)
    return (None, None, None, None, gx, gw, gb, g_v0 if need[7] else None, g_i0 if need[8] else None,
            *g_scalars)


def _block_of(t: Tensor, batch: int, n: int, n0: int, n1: int) -> Tensor:
    """Columns ``[n0, n1)`` of the neurons of a ``(..., B*N)`` tensor, as a contiguous ``(..., B*(n1-n0))``."""
    return t.reshape(*t.shape[:-1], batch, n)[..., n0:n1].reshape(*t.shape[:-1], -1).contiguous()


def _put_block(dst: Tensor, src: Tensor, batch: int, n: int, n0: int, n1: int) -> None:
    dst.view(*dst.shape[:-1], batch, n)[..., n0:n1] = src.view(*src.shape[:-1], batch, n1 - n0)


def _blockcurrents(ctx: Any, weight: Tensor, bias: Tensor | None, t_len: int, n0: int, n1: int) -> Tensor:
    """``y`` of neurons ``[n0, n1)``: ``(T, B*(n1-n0))``, gathered from their (K, n1-n0) slice of ``W^T``."""
    table = weight.detach()[n0:n1].t()
    return currents(ctx.csr, table, None if bias is None else bias[n0:n1]).view(t_len, -1)


def _blockwise_forward(ctx: Any, t_len: int, weight: Tensor, bias: Tensor | None, v0: Tensor, i0: Tensor
                       ) -> tuple[Tensor, Tensor, Tensor]:
    batch, n = ctx.batch, weight.shape[0]
    out = empty((t_len, batch * n), v0.dtype)
    v_out, i_out = torch.empty_like(v0), torch.empty_like(i0)
    for n0 in range(0, n, COLUMNS):
        n1 = min(n0 + COLUMNS, n)
        y = _blockcurrents(ctx, weight, bias, t_len, n0, n1)
        o, v, i, _, _ = lif.forward(ctx.spec, ctx.c, y, _block_of(v0, batch, n, n0, n1),
                                    _block_of(i0, batch, n, n0, n1))
        for dst, src in ((out, o), (v_out, v), (i_out, i)):
            _put_block(dst, src, batch, n, n0, n1)
    return out, v_out, i_out


def _blockwise_backward(ctx: Any, g_out: Tensor | None, g_v: Tensor | None, g_i: Tensor | None) -> tuple[Any, ...]:
    """The backward of a recomputing forward: block by block of neurons, each block's ``y`` gathered again."""
    weight, v0, i0, bias = ctx.saved_tensors
    need = ctx.needs_input_grad
    batch, k, n = ctx.batch, ctx.k, weight.shape[0]
    t_len = (ctx.csr[0].shape[0] - 1) // batch  # offsets: one per (t, b) row plus the end
    gx = weight.new_zeros(t_len * batch, k) if need[4] else None
    gw = weight.new_empty(n, k) if need[5] else None
    gb = weight.new_empty(n) if ctx.has_bias and need[6] else None
    g_v0, g_i0 = torch.empty_like(v0), torch.empty_like(i0)
    csc = _to_csc(*ctx.csr, k) if gw is not None else None
    sums = None
    for n0 in range(0, n, COLUMNS):
        n1 = min(n0 + COLUMNS, n)
        y = _blockcurrents(ctx, weight, bias, t_len, n0, n1)
        g_y, gv, gi, part = lif.backward(
            ctx.spec, ctx.c, y, _block_of(v0, batch, n, n0, n1), _block_of(i0, batch, n, n0, n1),
            None if g_out is None else _block_of(g_out, batch, n, n0, n1),
            None if g_v is None else _block_of(g_v, batch, n, n0, n1),
            None if g_i is None else _block_of(g_i, batch, n, n0, n1), any(need[9:]), g_x=y)
        sums = part if sums is None else sums + part
        _put_block(g_v0, gv, batch, n, n0, n1)
        _put_block(g_i0, gi, batch, n, n0, n1)
        g_y = g_y.view(-1, n1 - n0)  # (T*B, block)
        if gx is not None:
            gx.addmm_(g_y, weight.detach()[n0:n1])
        if gw is not None:
            colptr, rows, col_values = csc
            gw[n0:n1] = _gather(rows, g_y, colptr, col_values).t()
        if gb is not None:
            gb[n0:n1] = g_y.sum(0)
    return _grads(ctx, gx, gw, gb, g_v0, g_i0, sums, weight.dtype)


def spiking_linear(spec: KernelSpec, x: Tensor, weight: Tensor, bias: Tensor | None, state: NamedTuple,
                   max_density: float, recompute: bool = False) -> tuple[Tensor, NamedTuple] | None:
    """Spikes ``(T, B, N)`` and final state of ``neuron(x W^T + b)``, or ``None`` if ``x`` is too dense.

    ``recompute``: keep only the compressed input and gather ``y`` again in the backward (module docstring)."""
    t_len, batch = x.shape[:2]
    x2 = x.reshape(-1, x.shape[-1]).contiguous()  # (T*B, K)
    scanned = row_counts(x2)
    if scanned.counts.sum() > max_density * x2.numel():
        return None
    v0 = state.v.reshape(-1).contiguous()
    cuba = "syn_decay" in spec.scalars
    i0 = state.i.reshape(-1).contiguous() if cuba else torch.zeros_like(v0)
    out, v_out, i_out = _SpikingLinear.apply(spec, t_len, scanned, bool(recompute), x2, weight, bias,
                                             v0, i0, *lif_scalars(spec, x))
    shape = state.v.shape
    fields = (v_out.view(shape),) + ((i_out.view(shape),) if cuba else ())
    return out.view(t_len, batch, *shape[1:]), type(state)(*fields)
