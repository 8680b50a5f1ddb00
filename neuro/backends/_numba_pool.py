"""Numba kernels of non-overlapping 2-D max pooling (window = stride = ``k``, no padding, floor mode).

The forward pass writes the maximum of every ``k x k`` window and the position of the first maximum in
the window's row-major order (what ``torch.nn.functional.max_pool2d`` selects on ties, e.g. between the
spikes of a binary map) as one byte. The backward pass writes every element of the input gradient
once: the output gradient where the window's maximum was, zero elsewhere (torch fills the whole
gradient with zeros, then scatters). Inputs are ``(N, H, W)`` planes (``N`` = images x channels) of any
strides; kernels are serial and ``nogil`` over blocks of planes (:func:`neuro.backends._parallel.run_blocks`).
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["backward", "forward"]


@njit(nogil=True, cache=True, boundscheck=False)
def forward(x, k, out, arg, b0, b1, bs):
    """``out[p, i, j]`` = max of ``x[p, k*i:k*i+k, k*j:k*j+k]``, ``arg[p, i, j]`` = its first position ``dy*k+dx``."""
    n, _, _ = x.shape
    oh, ow = out.shape[1], out.shape[2]
    for blk in range(b0, b1):
        for p in range(blk * bs, min(n, (blk + 1) * bs)):
            for i in range(oh):
                if k == 2:  # the common case, unrolled: the first maximum of (a, b / c, d)
                    r0 = x[p, 2 * i]
                    r1 = x[p, 2 * i + 1]
                    for j in range(ow):
                        best = r0[2 * j]
                        where = 0
                        v = r0[2 * j + 1]
                        if v > best or v != v:
                            best = v
                            where = 1
                        v = r1[2 * j]
                        if v > best or v != v:
                            best = v
                            where = 2
                        v = r1[2 * j + 1]
                        if v > best or v != v:
                            best = v
                            where = 3
                        out[p, i, j] = best
                        arg[p, i, j] = where
                    continue
                for j in range(ow):
                    best = x[p, k * i, k * j]
                    where = 0
                    for dy in range(k):
                        for dx in range(k):
                            v = x[p, k * i + dy, k * j + dx]
                            if v > best or v != v:  # the first maximum; a NaN wins (the last one), as in torch
                                best = v
                                where = dy * k + dx
                    out[p, i, j] = best
                    arg[p, i, j] = where


@njit(nogil=True, cache=True, boundscheck=False)
def backward(g, arg, k, gx, b0, b1, bs):
    """``gx`` ``(N, H, W)``: ``g[p, i, j]`` at each window's recorded maximum, zero everywhere else."""
    n, h, w = gx.shape
    oh, ow = g.shape[1], g.shape[2]
    zero = gx.dtype.type(0)
    dy = np.arange(k * k) // k  # window position -> row and column offsets
    dx = np.arange(k * k) % k
    for blk in range(b0, b1):
        for p in range(blk * bs, min(n, (blk + 1) * bs)):
            for y in range(h):
                row = gx[p, y]
                for x in range(w):
                    row[x] = zero
            for i in range(oh):
                for j in range(ow):
                    a = arg[p, i, j]
                    gx[p, k * i + dy[a], k * j + dx[a]] = g[p, i, j]
