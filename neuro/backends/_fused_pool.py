"""Non-overlapping max pooling on the numba kernels (:mod:`neuro.backends._numba_pool`) as an autograd operation.

Saved for backward: the one-byte position of every window's maximum (torch keeps an int64 index per
output) and the input's shape.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from neuro.backends import _numba_pool as nk
from neuro.backends._parallel import blocks, run_blocks

__all__ = ["max_pool2d"]


def _plane_block(planes: int) -> int:
    return max(1, blocks(planes, 8 * max(1, torch.get_num_threads())))


class _MaxPool2d(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: Tensor, k: int) -> Tensor:
        n, c, h, w = x.shape
        oh, ow = h // k, w // k
        planes = x.detach().reshape(n * c, h, w)  # a view when the input is contiguous
        out = torch.empty((n, c, oh, ow), dtype=x.dtype)
        arg = torch.empty((n * c, oh, ow), dtype=torch.uint8)
        run_blocks(nk.forward, n * c, _plane_block(n * c), planes.numpy(), k, out.numpy().reshape(n * c, oh, ow),
                   arg.numpy(), work=x.numel())
        ctx.k, ctx.shape = k, x.shape
        ctx.save_for_backward(arg)
        return out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, g: Tensor):
        (arg,) = ctx.saved_tensors
        n, c, h, w = ctx.shape
        gx = torch.empty(ctx.shape, dtype=g.dtype)
        gp = g.reshape(n * c, *g.shape[2:])
        run_blocks(nk.backward, n * c, _plane_block(n * c), gp.numpy(), arg.numpy(), ctx.k,
                   gx.numpy().reshape(n * c, h, w), work=n * c * h * w)
        return gx, None


def max_pool2d(x: Tensor, k: int) -> Tensor:
    """``F.max_pool2d(x, k)`` (window = stride = ``k``, no padding) for a contiguous ``(N, C, H, W)`` CPU tensor."""
    return _MaxPool2d.apply(x, k)
