"""The event-driven 2-D convolution (:mod:`neuro.backends._numba_conv`) as an autograd operation.

Forward and weight gradient from the non-zero inputs only (``K * K * C_out`` multiply-adds per input
event); the bias gradient is the output gradient's sum and the input gradient, when needed (hidden
layers), is torch's dense ``conv2d_input``. The output is a contiguous ``(N, C_out, OH, OW)`` tensor,
like ``F.conv2d``'s (the kernels accumulate each image channels-last in cache and write it out), so
nothing after the layer pays for another memory layout.

Saved for backward: the input and the weight (the input binary spikes of a hidden layer are a tensor
the network keeps anyway until the neuron before has run its backward).

:func:`dense_conv2d` is the same convolution computed densely by oneDNN, for inputs too dense for the
event-driven path, with one change from ``F.conv2d``'s autograd: the weight gradient is computed from a
channels-last copy of the input. oneDNN's weight gradient of a contiguous (NCHW) input with several
input channels is several times slower than of a channels-last one, while its forward pass and input
gradient are faster in NCHW: on a 2-core Intel Xeon VM (AVX-512; 2026-11-27, a noisy spell), the weight
gradient of W2's second layer (12 -> 32 channels, 5x5, 512 images of 15x15) took 13.6 ms from NCHW against
9.5 ms from a channels-last copy made for it, the copy included (``PYTHONPATH=. python
experiments/conv_weight_grad.py``); with W2's 2 input channels the copy does not pay (7.5 against 9.5 ms),
hence :data:`NHWC_WEIGHT_GRAD_CHANNELS`.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from neuro.backends import _numba_conv as nk
from neuro.backends._parallel import blocks, run_blocks

__all__ = ["NHWC_WEIGHT_GRAD_CHANNELS", "dense_conv2d", "event_conv2d"]


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


#: Input channels from which :func:`dense_conv2d` computes the weight gradient from a channels-last input.
NHWC_WEIGHT_GRAD_CHANNELS = 8


def _conv_backward(g: Tensor, x: Tensor, weight: Tensor, pad: int, mask: list[bool]) -> tuple[Tensor, ...]:
    return torch.ops.aten.convolution_backward(g, x, weight, None, [1, 1], [pad, pad], [1, 1], False, [0, 0], 1,
                                               mask)


class _DenseConv2d(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: Tensor, weight: Tensor, bias: Tensor | None, pad: int) -> Tensor:
        ctx.pad = pad
        ctx.save_for_backward(x, weight)
        return torch.nn.functional.conv2d(x, weight.detach(), None if bias is None else bias.detach(), padding=pad)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, g: Tensor):
        x, weight = ctx.saved_tensors
        need_x, need_w, need_b, _ = ctx.needs_input_grad
        g = g.contiguous()
        g_x = _conv_backward(g, x, weight, ctx.pad, [True, False, False])[0] if need_x else None
        g_w = None
        if need_w:
            x_cl = x.contiguous(memory_format=torch.channels_last)
            g_w = _conv_backward(g, x_cl, weight, ctx.pad, [False, True, False])[1].contiguous()
        g_b = g.sum((0, 2, 3)) if need_b else None
        return g_x, g_w, g_b, None


def dense_conv2d(x: Tensor, weight: Tensor, bias: Tensor | None, padding: int) -> Tensor:
    """``F.conv2d(x, weight, bias, padding=padding)`` (stride 1) by oneDNN, its weight gradient computed from a
    channels-last copy of ``x`` (module docstring); ``x`` ``(N, C, H, W)``."""
    return _DenseConv2d.apply(x, weight, bias, padding)


def event_conv2d(x: Tensor, weight: Tensor, bias: Tensor | None, padding: int) -> Tensor:
    """``F.conv2d(x, weight, bias, padding=padding)`` (stride 1) from the non-zero inputs; ``x`` ``(N, C, H, W)``."""
    return _EventConv2d.apply(x, weight, bias, padding)
