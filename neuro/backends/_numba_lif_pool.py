"""Numba forward kernel of a LIF-family neuron whose spikes are max-pooled at once (window = stride = ``k``).

The neurons of a ``(T, N)`` sequence lie in ``h x w`` planes (``N`` = planes x ``h`` x ``w``: images x
channels x rows x columns); a block is a run of whole planes. Each step updates the block's neurons
exactly as :func:`neuro.backends._numba_lif.forward_kernel` does, keeps their spikes in a small local
buffer and writes only the ``k x k`` window maxima (floor mode: rows and columns past the last whole
window are dropped, as ``F.max_pool2d`` does). The spikes are 0 or 1, so a window's maximum is whether any
of its neurons fired. The backward pass is :func:`~neuro.backends._numba_lif.adjoint_kernel` with
``pool``, which recomputes the spikes and routes each window's gradient to its maximum.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np
from numba import njit

from neuro.backends._numba_lif import after_spike, charge

__all__ = ["forward_kernel"]


@njit(inline="always", cache=True)
def fired_row(fired_at, r0, w, k, ow, row_any):
    """``row_any[j]``: whether any neuron of the ``j``-th ``k x k`` window whose top row starts at
    ``fired_at[r0]`` (rows ``w`` apart) fired."""
    if k == 2:  # the common case: two contiguous rows, pairs of columns
        for j in range(ow):
            a = np.uint64(r0 + 2 * j)  # unsigned: no negative-index wraparound on every access
            b = np.uint64(r0 + w + 2 * j)
            row_any[j] = fired_at[a] | fired_at[a + 1] | fired_at[b] | fired_at[b + 1]
        return
    for j in range(ow):
        row_any[j] = 0
    for dy in range(k):
        a = fired_at[r0 + dy * w:r0 + dy * w + k * ow]
        for j in range(ow):
            m = row_any[j]
            for dx in range(k):
                m |= a[k * j + dx]
            row_any[j] = m


@functools.cache
def forward_kernel(reset: int, delayed: bool, no_leak: bool, cuba: bool) -> Callable[..., None]:
    """``kernel(x, v0, i0, c, out, v_out, i_out, shape, b0, b1, bs)`` for these options.

    ``shape = (k, h, w)``; blocks are ``bs`` planes. Writes the pooled spikes ``out`` ``(T, planes * (h // k)
    * (w // k))`` and the final state ``v_out`` (``i_out``, CubaLIF only; otherwise ``i0`` and ``i_out`` are not
    touched). ``c`` is :func:`neuro.backends._fused_lif.constants`.
    """

    mode = 2 if delayed else reset

    @njit(nogil=True, cache=True, error_model="numpy")
    def kernel(x, v0, i0, c, out, v_out, i_out, shape, b0, b1, bs):
        t_len, n = x.shape
        k, h, w = shape[0], shape[1], shape[2]
        hw = h * w
        oh, ow = h // k, w // k
        planes = n // hw
        decay, leak, gain, vth, v_reset, syn_decay, gain_syn = c[0], c[1], c[2], c[3], c[4], c[5], c[6]
        zero = x.dtype.type(0)
        one = x.dtype.type(1)
        fired_at = np.empty(bs * hw, dtype=np.uint8)
        row_any = np.empty(ow, dtype=np.uint8)
        for blk in range(b0, b1):
            p0 = blk * bs
            p1 = min(planes, p0 + bs)
            lo = p0 * hw
            hi = p1 * hw
            v = v0[lo:hi].copy()
            cur = i0[lo:hi].copy() if cuba else v0[0:0].copy()
            for t in range(t_len):
                xt = x[t, lo:hi]
                for j in range(hi - lo):
                    inp = xt[j]
                    if cuba:
                        cur[j] = syn_decay * cur[j] + gain_syn * inp
                        inp = cur[j]
                    hj = charge(v[j], inp, decay, leak, gain, vth, v_reset, reset, delayed, no_leak, zero)
                    fired = hj - vth >= zero
                    fired_at[j] = fired
                    v[j] = after_spike(hj, fired, vth, v_reset, mode)
                ot = out[t]
                for p in range(p1 - p0):
                    for i in range(oh):
                        r0 = p * hw + k * i * w  # the window row's first neuron in the block
                        o = ot[((p0 + p) * oh + i) * ow:((p0 + p) * oh + i + 1) * ow]
                        fired_row(fired_at, r0, w, k, ow, row_any)
                        for jj in range(ow):
                            o[jj] = one if row_any[jj] else zero
            v_out[lo:hi] = v
            if cuba:
                i_out[lo:hi] = cur

    return kernel
