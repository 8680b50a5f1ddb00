"""Numba kernel of an event-driven recurrent LIF layer (inference): ``I_t = x_t + W s_{t-1}``.

Each sample runs its whole time loop in the kernel (samples are independent, so blocks of samples
go to different threads). Only the neurons that spiked at the previous step deliver input, each by
walking its column of the recurrent matrix in CSC form (``colptr``, ``rows``, ``vals``: the non-zero
synapses only), so a step costs ``active x fan-out`` additions instead of an ``N x N`` product. The
membrane update is the LIF family's ``h = decay * v + leak + gain * I`` with an immediate reset
(0 hard, 1 subtract, 2 none); ``c`` holds ``decay, leak, gain, v_threshold, v_reset``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np
from numba import njit

__all__ = ["recurrent_kernel"]


@functools.cache
def recurrent_kernel(reset: int) -> Callable[..., None]:
    """``kernel(x, v0, s0, colptr, rows, vals, c, out, v_out, b0, b1, bs)`` over samples ``[b0*bs, b1*bs)``.

    ``x``/``out`` are ``(T, B, N)``, ``v0``/``s0``/``v_out`` are ``(B, N)``.
    """

    @njit(nogil=True, cache=True, error_model="numpy")
    def kernel(x, v0, s0, colptr, rows, vals, c, out, v_out, b0, b1, bs):
        t_len, batch, n = x.shape
        decay, leak, gain, vth, v_reset = c[0], c[1], c[2], c[3], c[4]
        zero = x.dtype.type(0)
        one = x.dtype.type(1)
        cur = np.empty(n, x.dtype)
        active = np.empty(n, np.int64)
        weight = np.empty(n, x.dtype)  # spike value of each active neuron (1 after the first step)
        for b in range(b0 * bs, min(batch, b1 * bs)):
            v = v0[b].copy()
            na = 0
            for j in range(n):
                if s0[b, j] != zero:
                    active[na] = j
                    weight[na] = s0[b, j]
                    na += 1
            for t in range(t_len):
                xt = x[t, b]
                for i in range(n):
                    cur[i] = zero
                for a in range(na):
                    j = active[a]
                    w = weight[a]
                    for p in range(colptr[j], colptr[j + 1]):
                        cur[rows[p]] += w * vals[p]
                ot = out[t, b]
                na = 0
                for i in range(n):
                    h = decay * v[i] + leak + gain * (xt[i] + cur[i])
                    fired = h - vth >= zero
                    ot[i] = one if fired else zero
                    if reset == 0:
                        v[i] = v_reset if fired else h
                    elif reset == 1:
                        v[i] = h - vth if fired else h
                    else:
                        v[i] = h
                    if fired:
                        active[na] = i
                        weight[na] = one
                        na += 1
            v_out[b] = v

    return kernel
