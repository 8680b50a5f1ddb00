"""Numba kernels of an event-driven 2-D convolution (stride 1, no dilation, one group).

Every non-zero input value ``x[n, c, iy, ix]`` (read in place, whatever the input's memory layout)
adds ``v * w[:, c, ky, kx]`` to the outputs ``(iy + pad - ky, ix + pad - kx)`` it reaches, and the
weight gradient gathers the output gradient the same way: ``K * K * C_out`` multiply-adds per input
event instead of the dense convolution's work per output. Each image's output (and output gradient)
is accumulated in a channels-last ``(OH, OW * C_out)`` scratch that stays in cache, then written out
as ``(N, C_out, OH, OW)``; the weights are stored as ``wf[c, ky, j * C_out + o] = w[o, c, ky, K - 1 - j]``
(``kx`` flipped), so that for one event and one kernel row the touched outputs and the weights they
use are each one contiguous run of up to ``K * C_out`` values: a vectorised loop per ``(event, ky)``.

Kernels are serial and ``nogil``; :func:`neuro.backends._parallel.run_blocks` runs blocks of images
on threads (``kernel(..., b0, b1, bs)`` covers images ``[b0 * bs, b1 * bs)``).
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["flip_weight", "forward", "unflip_weight", "weight_grad"]


@njit(nogil=True, cache=True, boundscheck=False)
def _events(x, n, pad, img, wts, into_img):
    """Every event of image ``n`` against its outputs: ``img`` ``(OH, OW * O)`` is that image's channels-last output
    (or output gradient), ``wts`` ``(C, K, K * O)`` the flipped weights (or their gradient). ``into_img``: add
    ``v * wts`` rows into ``img`` (forward), else ``v * img`` runs into ``wts`` (weight gradient)."""
    _, c, h, w = x.shape
    k = wts.shape[1]
    o = wts.shape[2] // k
    oh = img.shape[0]
    ow = img.shape[1] // o
    zero = x.dtype.type(0)
    for ch in range(c):
        for iy in range(h):
            for ix in range(w):
                v = x[n, ch, iy, ix]
                if v == zero:
                    continue
                base = ix + pad - (k - 1)  # output column reached through the flipped kx = 0
                j0 = max(0, -base)
                j1 = min(k, ow - base)
                if j1 <= j0:
                    continue
                length = (j1 - j0) * o
                for ky in range(k):
                    oy = iy + pad - ky
                    if oy < 0 or oy >= oh:
                        continue
                    out_run = img[oy, (base + j0) * o:(base + j0) * o + length]
                    w_run = wts[ch, ky, j0 * o:j0 * o + length]
                    if into_img:
                        for e in range(length):
                            out_run[e] += v * w_run[e]
                    else:
                        for e in range(length):
                            w_run[e] += v * out_run[e]


@njit(nogil=True, cache=True, boundscheck=False)
def forward(x, wf, bias, out, pad, b0, b1, bs):
    """``out`` ``(N, O, OH, OW)`` = bias + the events' kernels; ``x`` ``(N, C, H, W)``, ``wf`` ``(C, K, K * O)``."""
    n_img = x.shape[0]
    o = bias.shape[0]
    oh, ow = out.shape[2], out.shape[3]
    buf = np.empty((oh, ow * o), x.dtype)  # one image's output, channels-last (stays in cache)
    for blk in range(b0, b1):
        for n in range(blk * bs, min(n_img, (blk + 1) * bs)):
            for oy in range(oh):
                row = buf[oy]
                for p in range(ow):
                    for q in range(o):
                        row[p * o + q] = bias[q]
            _events(x, n, pad, buf, wf, True)
            for q in range(o):
                for oy in range(oh):
                    for p in range(ow):
                        out[n, q, oy, p] = buf[oy, p * o + q]


@njit(nogil=True, cache=True, boundscheck=False)
def weight_grad(x, g, partial, pad, b0, b1, bs):
    """``partial[blk]`` ``(C, K, K * O)`` (flipped like ``wf``) += the weight gradient of images of block ``blk``.

    ``g`` is the output gradient ``(N, O, OH, OW)`` (any strides); ``partial`` starts at zero.
    """
    n_img = x.shape[0]
    o = g.shape[1]
    oh, ow = g.shape[2], g.shape[3]
    buf = np.empty((oh, ow * o), g.dtype)  # one image's output gradient, channels-last
    for blk in range(b0, b1):
        for n in range(blk * bs, min(n_img, (blk + 1) * bs)):
            for q in range(o):
                for oy in range(oh):
                    for p in range(ow):
                        buf[oy, p * o + q] = g[n, q, oy, p]
            _events(x, n, pad, buf, partial[blk], False)


def flip_weight(weight: np.ndarray) -> np.ndarray:
    """``(O, C, K, K)`` -> ``(C, K, K * O)`` with ``kx`` flipped (see the module docstring)."""
    o, c, k, _ = weight.shape
    return np.ascontiguousarray(weight[:, :, :, ::-1].transpose(1, 2, 3, 0)).reshape(c, k, k * o)


def unflip_weight(wf: np.ndarray, o: int) -> np.ndarray:
    """The inverse of :func:`flip_weight`: ``(C, K, K * O)`` -> ``(O, C, K, K)``."""
    c, k, _ = wf.shape
    return np.ascontiguousarray(wf.reshape(c, k, k, o).transpose(3, 0, 1, 2)[:, :, :, ::-1])
