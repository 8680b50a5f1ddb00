"""Numba kernels of the adaptive LIF neuron (:func:`~neuro.neurons.alif.alif_step`), a sequence per call.

Same layout and strategy as :mod:`neuro.backends._numba_lif`: blocks ``[b0, b1)`` of ``bs``
neurons, time loop inside, one specialised kernel per option combination, forward float
operations in the reference's order, backward recomputing the forward pass per block.
``h = decay * v + leak + gain * x``, ``theta = v_threshold + beta_adapt * a`` and
``a' = adapt_decay * a + s``; ``c`` holds ``decay, leak, gain, v_threshold, adapt_decay, v_reset,
beta_adapt``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np
from numba import njit

from neuro.backends._numba_lif import BLOCK, after_spike, backward_block, surrogate_grad
from neuro.backends._spec import surrogate_constants

__all__ = ["BLOCK", "backward_block", "backward_kernel", "forward_kernel", "surrogate_constants"]


@functools.cache
def forward_kernel(reset: int, record: bool) -> Callable[..., None]:
    """``kernel(x, v0, a0, c, out, v_out, a_out, v_seq, a_seq, b0, b1, bs)`` for these options."""

    @njit(nogil=True, cache=True, error_model="numpy")
    def kernel(x, v0, a0, c, out, v_out, a_out, v_seq, a_seq, b0, b1, bs):
        t_len, n = x.shape
        decay, leak, gain, vth, adecay, v_reset, beta_a = c[0], c[1], c[2], c[3], c[4], c[5], c[6]
        zero = x.dtype.type(0)
        one = x.dtype.type(1)
        for blk in range(b0, b1):
            lo = blk * bs
            hi = min(n, lo + bs)
            v = v0[lo:hi].copy()
            a = a0[lo:hi].copy()
            for t in range(t_len):
                xt = x[t, lo:hi]
                ot = out[t, lo:hi]
                for j in range(hi - lo):
                    vj = v[j]
                    aj = a[j]
                    h = decay * vj + leak + gain * xt[j]
                    theta = vth + beta_a * aj
                    fired = h - theta >= zero
                    s = one if fired else zero
                    ot[j] = s
                    v[j] = after_spike(h, fired, theta, v_reset, reset)
                    a[j] = adecay * aj + s
                if record:
                    v_seq[t, lo:hi] = v
                    a_seq[t, lo:hi] = a
            v_out[lo:hi] = v
            a_out[lo:hi] = a

    return kernel


@functools.cache
def backward_kernel(reset: int, detach: bool, surrogate: int, scalar_grads: bool) -> Callable[..., None]:
    """``kernel(x, v0, a0, c, sg, dd, g_out, g_vt, g_at, g_x, g_v0, g_a0, partial, b0, b1, bs)`` (``dd`` unused).

    With ``scalar_grads``, ``partial[block]`` receives d/d(decay, leak, gain, v_threshold, adapt_decay).
    """

    @njit(nogil=True, cache=True, error_model="numpy")
    def blocks_(x, v0, a0, c, sg, g_out, g_vt, g_at, g_x, g_v0, g_a0, partial, b0, b1, bs, hs_buf, vs_buf, as_buf,
                acc_buf):
        t_len, n = x.shape
        decay, leak, gain, vth, adecay, v_reset, beta_a = c[0], c[1], c[2], c[3], c[4], c[5], c[6]
        k1, k2 = sg[0], sg[1]
        zero = x.dtype.type(0)
        one = x.dtype.type(1)
        for blk in range(b0, b1):
            lo = blk * bs
            hi = min(n, lo + bs)
            m = hi - lo
            hs, vs, As = hs_buf, vs_buf, as_buf  # whole rows (a column slice is strided to numba: not vectorised)
            v = v0[lo:hi].copy()
            a = a0[lo:hi].copy()
            for t in range(t_len):
                xt = x[t, lo:hi]
                ht, vt, at = hs[t], vs[t if scalar_grads else 0], As[t]
                for j in range(m):
                    vj = v[j]
                    aj = a[j]
                    if scalar_grads:
                        vt[j] = vj
                    at[j] = aj
                    h = decay * vj + leak + gain * xt[j]
                    ht[j] = h
                    theta = vth + beta_a * aj
                    fired = h - theta >= zero
                    v[j] = after_spike(h, fired, theta, v_reset, reset)
                    a[j] = adecay * aj + (one if fired else zero)
            gv = g_vt[lo:hi].copy()
            ga = g_at[lo:hi].copy()
            acc = acc_buf
            acc[:] = 0.0
            for t in range(t_len - 1, -1, -1):
                xt = x[t, lo:hi]
                got = g_out[t, lo:hi]
                gxt = g_x[t, lo:hi]
                ht, vt, at = hs[t], vs[t if scalar_grads else 0], As[t]
                for j in range(m):
                    h = ht[j]
                    aj = at[j]
                    theta = vth + beta_a * aj
                    z = h - theta
                    fired = z >= zero
                    d = surrogate_grad(z, surrogate, k1, k2, one, zero)
                    gvj = gv[j]
                    gaj = ga[j]
                    if reset == 0:
                        dv_dh = zero if fired else one
                        dv_ds = v_reset - h
                        dv_dth = zero
                    elif reset == 1:
                        dv_dh = one
                        dv_ds = -theta
                        dv_dth = -one if fired else zero
                    else:
                        dv_dh, dv_ds, dv_dth = one, zero, zero
                    gs = got[j] + gaj  # the spike feeds the output and the adaptation (never detached)
                    if not detach:
                        gs += gvj * dv_ds
                    gz = gs * d
                    gh = gz + gvj * dv_dh
                    g_th = -gz + gvj * dv_dth
                    if scalar_grads:
                        acc[0, j] += gh * vt[j]
                        acc[1, j] += gh
                        acc[2, j] += gh * xt[j]
                        acc[3, j] += g_th
                        acc[4, j] += gaj * aj
                    gxt[j] = gh * gain
                    gv[j] = gh * decay
                    ga[j] = gaj * adecay + g_th * beta_a
            g_v0[lo:hi] = gv
            g_a0[lo:hi] = ga
            if scalar_grads:
                for k in range(5):
                    partial[blk, k] = acc[k, :m].sum()

    @njit(nogil=True, cache=True, error_model="numpy")
    def kernel(x, v0, a0, c, sg, dd, g_out, g_vt, g_at, g_x, g_v0, g_a0, partial, b0, b1, bs):
        # The per-block buffers are allocated here and passed to the loops as arguments: rows sliced from an array
        # allocated in the same function kept the loops from vectorising.
        t_len = x.shape[0]
        hs_buf = np.empty((t_len, bs), x.dtype)  # charged membrane h_t
        vs_buf = np.empty((t_len if scalar_grads else 1, bs), x.dtype)  # membrane entering step t (scalar grads)
        as_buf = np.empty((t_len, bs), x.dtype)  # adaptation entering step t
        acc_buf = np.empty((5, bs if scalar_grads else 1))
        blocks_(x, v0, a0, c, sg, g_out, g_vt, g_at, g_x, g_v0, g_a0, partial, b0, b1, bs, hs_buf, vs_buf, as_buf,
                acc_buf)

    return kernel
