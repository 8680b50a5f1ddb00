"""The event-driven 2-D convolution (:mod:`neuro.backends._numba_conv`) as an autograd operation.

Forward and weight gradient from the non-zero inputs only (``K * K * C_out`` multiply-adds per input
event); the bias gradient is the output gradient's sum and the input gradient, when needed (hidden
layers), is torch's dense ``conv2d_input``. The output is a contiguous ``(N, C_out, OH, OW)`` tensor,
like ``F.conv2d``'s (the kernels accumulate each image channels-last in cache and write it out), so
nothing after the layer pays for another memory layout.

Saved for backward: the input and the weight (the input binary spikes of a hidden layer are a tensor
the network keeps anyway until the neuron before has run its backward).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from neuro.backends import _numba_conv as nk
from neuro.backends._parallel import blocks, run_blocks

__all__ = ["event_conv2d"]


def _image_block(n: int) -> int:
    """Images per block: a few blocks per thread (load balance), each with its own weight-gradient buffer."""
    return max(1, blocks(n, 4 * max(1, torch.get_num_threads())))


class _EventConv2d(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: Tensor, weight: Tensor, bias: Tensor | None, pad: int) -> Tensor:
        n, _, h, w = x.shape
        o, _, k, _ = weight.shape
        oh, ow = h + 2 * pad - k + 1, w + 2 * pad - k + 1
        out = torch.empty((n, o, oh, ow), dtype=x.dtype)
        b = bias.detach() if bias is not None else torch.zeros(o, dtype=x.dtype)
        xv = x.detach().numpy()  # read in place, any strides
        run_blocks(nk.forward, n, _image_block(n), xv, nk.flip_weight(weight.detach().numpy()), b.numpy(),
                   out.numpy(), pad, work=x.numel() * k)
        ctx.pad = pad
        ctx.save_for_backward(x, weight)
        return out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, g: Tensor):
        x, weight = ctx.saved_tensors
        n, c, _, _ = x.shape
        o, _, k, _ = weight.shape
        need_x, need_w, need_b, _ = ctx.needs_input_grad
        g_x = g_w = g_b = None
        if need_w:
            bs = _image_block(n)
            partial = torch.zeros((blocks(n, bs), c, k, k * o), dtype=x.dtype)
            run_blocks(nk.weight_grad, n, bs, x.detach().numpy(),
                       g.numpy(), partial.numpy(), ctx.pad, work=x.numel() * k)
            g_w = torch.from_numpy(nk.unflip_weight(partial.sum(0).numpy(), o))
        if need_b:
            g_b = g.sum((0, 2, 3))
        if need_x:
            g_x = torch.nn.grad.conv2d_input(x.shape, weight, g, padding=ctx.pad)
        return g_x, g_w, g_b, None


def event_conv2d(x: Tensor, weight: Tensor, bias: Tensor | None, padding: int) -> Tensor:
    """``F.conv2d(x, weight, bias, padding=padding)`` (stride 1) from the non-zero inputs; ``x`` ``(N, C, H, W)``."""
    return _EventConv2d.apply(x, weight, bias, padding)
