"""Fused event-driven linear layer + LIF-family neuron (the ``spiking_linear`` operation).

One autograd node does ``y = x W^T + b`` by gathering (:mod:`neuro.backends._fused_event`) and runs
the neuron's fused kernel (:mod:`neuro.backends._fused_lif`) on ``y``. Because ``y`` never leaves
the node, the neuron's backward writes ``dL/dy`` over ``y`` in place: training keeps two ``(T, N)``
buffers at the neuron's backward (``y``/``dy`` and the incoming spike gradient) instead of three —
about a third less peak memory on a spiking MLP layer.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import torch
from torch import Tensor

from neuro.backends import _fused_lif as lif
from neuro.backends._fused_event import _gather, _to_csc, row_counts, to_csr
from neuro.backends._spec import KernelSpec

__all__ = ["spiking_linear"]


class _SpikingLinear(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, spec: KernelSpec, t_len: int, counts: np.ndarray, binary: bool, x: Tensor, weight: Tensor,
                bias: Tensor | None, v0: Tensor, i0: Tensor, *scalars: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        indptr, indices, values = to_csr(x, counts, binary)
        y = _gather(indices, weight.detach().t().contiguous(), indptr, values)  # (T*B, N), owned by this node
        if bias is not None:
            y += bias.detach()
        y = y.view(t_len, -1)  # (T, B*N): the neuron's layout, same memory
        c = lif.constants(spec, scalars, x.dtype)
        out, v_out, i_out, _, _ = lif.forward(spec, c, y, v0, i0)
        ctx.spec, ctx.c, ctx.y, ctx.csr, ctx.k = spec, c, y, (indptr, indices, values), x.shape[1]
        ctx.has_bias = bias is not None
        ctx.save_for_backward(weight, v0, i0)
        return out, v_out, i_out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, g_out: Tensor | None, g_v: Tensor | None, g_i: Tensor | None) -> tuple[Any, ...]:
        weight, v0, i0 = ctx.saved_tensors
        need = ctx.needs_input_grad
        y = ctx.y
        ctx.y = None
        g_y, g_v0, g_i0, sums = lif.backward(ctx.spec, ctx.c, y, v0, i0, g_out, g_v, g_i, any(need[9:]), g_x=y)
        g_y = g_y.view(-1, weight.shape[0])  # (T*B, N), in y's storage
        gx = g_y @ weight if need[4] else None
        gw = None
        if need[5]:
            colptr, rows, col_values = _to_csc(*ctx.csr, ctx.k)
            gw = _gather(rows, g_y, colptr, col_values).t()
        gb = g_y.sum(0) if ctx.has_bias and need[6] else None
        g_scalars = tuple(torch.tensor(sums[k], dtype=y.dtype) if need[9 + k] else None for k in range(len(sums)))
        return (None, None, None, None, gx, gw, gb, g_v0 if need[7] else None, g_i0 if need[8] else None,
                *g_scalars)


def spiking_linear(spec: KernelSpec, x: Tensor, weight: Tensor, bias: Tensor | None, state: NamedTuple,
                   max_density: float) -> tuple[Tensor, NamedTuple] | None:
    """Spikes ``(T, B, N)`` and final state of ``neuron(x W^T + b)``, or ``None`` if ``x`` is too dense."""
    t_len, batch = x.shape[:2]
    x2 = x.reshape(-1, x.shape[-1]).contiguous()  # (T*B, K)
    counts, binary = row_counts(x2)
    if counts.sum() > max_density * x2.numel():
        return None
    v0 = state.v.reshape(-1).contiguous()
    cuba = "syn_decay" in spec.scalars
    i0 = state.i.reshape(-1).contiguous() if cuba else torch.zeros_like(v0)
    out, v_out, i_out = _SpikingLinear.apply(spec, t_len, counts, binary, x2, weight, bias, v0, i0,
                                             *lif.scalars_of(spec, x.dtype))
    shape = state.v.shape
    fields = (v_out.view(shape),) + ((i_out.view(shape),) if cuba else ())
    return out.view(t_len, batch, *shape[1:]), type(state)(*fields)
