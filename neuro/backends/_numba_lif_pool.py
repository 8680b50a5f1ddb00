"""Numba forward kernel of a LIF-family neuron whose spikes are max- or average-pooled at once (window = stride =
``k``).

The neurons of a ``(T, N)`` sequence lie in ``h x w`` planes (``N`` = planes x ``h`` x ``w``: images x
channels x rows x columns); a block is a run of whole planes. Each step updates the block's neurons
exactly as :func:`neuro.backends._numba_lif.forward_kernel` does, keeps their spikes in a small local
buffer and writes only the ``k x k`` window maxima (floor mode: rows and columns past the last whole
window are dropped, as ``F.max_pool2d`` does). The spikes are 0 or 1, so a window's maximum is whether any
of its neurons fired; the position of each window's maximum is recorded (one byte per window) for the
backward pass, :func:`~neuro.backends._numba_lif.adjoint_kernel` with ``pool``, which routes each window's
gradient there. An average is a window's spike count divided by ``k * k``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np
from numba import njit

from neuro.backends._numba_lif import after_spike, charge

__all__ = ["count_row", "forward_kernel", "pool_row"]


#: The window position (0-3, row-major) of the first set bit of a 2 x 2 window's spikes ``s0 | s1 << 1 | s2 << 2
#: | s3 << 3``, 0 when none is set: where ``F.max_pool2d`` finds the maximum of a binary window.
_FIRST_OF_FOUR = np.array([0, 0, 1, 0, 2, 0, 1, 0, 3, 0, 1, 0, 2, 0, 1, 0], dtype=np.uint8)


@njit(inline="always", cache=True)
def pool_row(fired_at, r0, w, k, ow, row_any, row_first):
    """For the ``j``-th ``k x k`` window of a window row whose top row starts at ``fired_at[r0]`` (rows ``w``
    apart): ``row_any[j]``, whether any of its neurons fired, and ``row_first[j]``, the row-major position of
    its first neuron that fired (0 if none): the maximum ``F.max_pool2d`` selects on a binary window."""
    if k == 2:  # the common case: two contiguous rows, pairs of columns
        for j in range(ow):
            a = np.uint64(r0 + 2 * j)  # unsigned: no negative-index wraparound on every access
            b = np.uint64(r0 + w + 2 * j)
            bits = fired_at[a] | (fired_at[a + 1] << 1) | (fired_at[b] << 2) | (fired_at[b + 1] << 3)
            row_any[j] = bits != 0
            row_first[j] = _FIRST_OF_FOUR[np.uint64(bits)]
        return
    for j in range(ow):
        first = np.uint8(0)
        fired = np.uint8(0)
        for q in range(k * k - 1, -1, -1):  # backwards: the last one found is the first in order
            f = fired_at[np.uint64(r0 + k * j + (q // k) * w + q % k)]
            first = np.uint8(q) if f else first
            fired |= f
        row_any[j] = fired
        row_first[j] = first


@njit(inline="always", cache=True)
def count_row(fired_at, r0, w, k, ow, row_count):
    """``row_count[j]``: how many neurons of the ``j``-th ``k x k`` window of a window row (see :func:`pool_row`)
    fired."""
    if k == 2:
        for j in range(ow):
            a = np.uint64(r0 + 2 * j)
            b = np.uint64(r0 + w + 2 * j)
            row_count[j] = np.int32(fired_at[a]) + fired_at[a + 1] + fired_at[b] + fired_at[b + 1]
        return
    for j in range(ow):
        row_count[j] = 0
    for dy in range(k):
        base = r0 + dy * w
        for j in range(ow):
            total = row_count[j]
            for dx in range(k):
                total += fired_at[np.uint64(base + k * j + dx)]
            row_count[j] = total


@functools.cache
def forward_kernel(reset: int, delayed: bool, no_leak: bool, cuba: bool, avg: bool = False) -> Callable[..., None]:
    """``kernel(x, v0, i0, c, out, arg, v_out, i_out, shape, b0, b1, bs)`` for these options.

    ``shape = (k, h, w)``; blocks are ``bs`` planes. Writes the pooled spikes ``out`` ``(T, planes * (h // k)
    * (w // k))``: each window's maximum and its position ``arg`` (same shape, uint8: see :func:`pool_row`) or,
    with ``avg``, each window's mean (its spike count divided by ``k * k``, as ``F.avg_pool2d`` divides its sum;
    ``arg`` is not written). Also the final state ``v_out`` (``i_out``, CubaLIF only; otherwise ``i0`` and
    ``i_out`` are not touched). ``c`` is :func:`neuro.backends._fused_lif.constants`.
    """

    mode = 2 if delayed else reset

    @njit(nogil=True, cache=True, error_model="numpy")
    def kernel(x, v0, i0, c, out, arg, v_out, i_out, shape, b0, b1, bs):
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
        row_count = np.empty(ow, dtype=np.int32)
        area = x.dtype.type(k * k)
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
                at = arg[0 if avg else t]
                for p in range(p1 - p0):
                    for i in range(oh):
                        r0 = p * hw + k * i * w  # the window row's first neuron in the block
                        o0 = ((p0 + p) * oh + i) * ow
                        o = ot[o0:o0 + ow]
                        if avg:
                            count_row(fired_at, r0, w, k, ow, row_count)
                            for jj in range(ow):
                                o[jj] = x.dtype.type(row_count[jj]) / area
                        else:
                            pool_row(fired_at, r0, w, k, ow, row_any, at[o0:o0 + ow])
                            for jj in range(ow):
                                o[jj] = one if row_any[jj] else zero
            v_out[lo:hi] = v
            if cuba:
                i_out[lo:hi] = cur

    return kernel
