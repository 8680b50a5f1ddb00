"""Numba kernels of batch statistics: per-channel sums over an ``(N, C, L)`` array, in float64.

``torch.var_mean`` over the batch dimension of a contiguous ``(N, C)`` tensor reduces across rows and ran at a
few hundred MB/s (8 M float32 elements: 37 ms against 0.9 ms for ``sum(0)``, 2026-11-27, a 2-core Intel Xeon VM);
these kernels add rows into per-block float64 partial sums, vectorised along the contiguous axis, two passes
(sums, then squared deviations from the mean), summed by the caller in a fixed order (deterministic).
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["ROWS", "channel_sums"]

#: Rows (samples) per block.
ROWS = 256


@njit(nogil=True, cache=True, error_model="numpy")
def channel_sums(z, mean, centred, partial, b0, b1, bs):
    """``partial[block, c]``: the sum over rows ``[b*bs, (b+1)*bs)`` and positions ``l`` of ``z[n, c, l]``, or of
    ``(z[n, c, l] - mean[c])**2`` when ``centred`` (``mean`` float64, ``(C,)``)."""
    rows, channels, length = z.shape
    acc = np.empty(channels)
    for blk in range(b0, b1):
        acc[:] = 0.0
        for r in range(blk * bs, min(rows, (blk + 1) * bs)):
            zr = z[r]
            if length == 1:  # channels last: vectorised along the channels
                if centred:
                    for c in range(channels):
                        d = np.float64(zr[c, 0]) - mean[c]
                        acc[c] += d * d
                else:
                    for c in range(channels):
                        acc[c] += np.float64(zr[c, 0])
            else:
                for c in range(channels):
                    s = 0.0
                    zc = zr[c]
                    m = mean[c]
                    if centred:
                        for i in range(length):
                            d = np.float64(zc[i]) - m
                            s += d * d
                    else:
                        for i in range(length):
                            s += np.float64(zc[i])
                    acc[c] += s
        partial[blk] = acc
