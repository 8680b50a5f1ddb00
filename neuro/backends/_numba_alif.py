"""Numba kernels of the adaptive LIF neuron (:func:`~neuro.neurons.alif.alif_step`), a sequence per call.

Same layout and strategy as :mod:`neuro.backends._numba_lif` (blocks of neurons in parallel, time
loop inside, forward float operations in the reference's order, backward recomputing the forward
pass per block). ``h = decay * v + leak + gain * x``, ``theta = v_threshold + beta_adapt * a``,
``a' = adapt_decay * a + s``. ``c`` holds ``decay, leak, gain, v_threshold, adapt_decay, v_reset,
beta_adapt``; ``f`` holds ``reset, detach, record``. ``partial[block]`` receives d/d(decay, leak,
gain, v_threshold, adapt_decay).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from neuro.backends._numba_lif import BLOCK, backward_block, surrogate_grad

__all__ = ["alif_backward", "alif_forward", "backward_block"]


@njit(inline="always", cache=True)
def _reset(h, fired, theta, v_reset, reset):
    if not fired or reset == 2:
        return h
    if reset == 0:
        return v_reset
    return h - theta


@njit(parallel=True, cache=True)
def alif_forward(x, v0, a0, c, f, out, v_out, a_out, v_seq, a_seq):
    """Spikes and final ``(v, a)`` of a whole sequence; per-step states into ``v_seq``/``a_seq`` when recording."""
    t_len, n = x.shape
    decay, leak, gain, vth, adecay, v_reset, beta_a = c[0], c[1], c[2], c[3], c[4], c[5], c[6]
    reset, record = f[0], f[2]
    zero = x.dtype.type(0)
    one = x.dtype.type(1)
    blocks = (n + BLOCK - 1) // BLOCK
    for blk in prange(blocks):
        lo = blk * BLOCK
        hi = min(n, lo + BLOCK)
        v = v0[lo:hi].copy()
        a = a0[lo:hi].copy()
        for t in range(t_len):
            for j in range(hi - lo):
                vj = v[j]
                aj = a[j]
                h = decay * vj + leak + gain * x[t, lo + j]
                theta = vth + beta_a * aj
                fired = h - theta >= zero
                s = one if fired else zero
                out[t, lo + j] = s
                v[j] = _reset(h, fired, theta, v_reset, reset)
                a[j] = adecay * aj + s
            if record:
                v_seq[t, lo:hi] = v
                a_seq[t, lo:hi] = a
        v_out[lo:hi] = v
        a_out[lo:hi] = a


@njit(parallel=True, cache=True)
def alif_backward(x, v0, a0, c, f, sg, bm, g_out, g_vt, g_at, g_x, g_v0, g_a0, partial):
    """Adjoint pass of :func:`alif_forward`."""
    t_len, n = x.shape
    decay, leak, gain, vth, adecay, v_reset, beta_a = c[0], c[1], c[2], c[3], c[4], c[5], c[6]
    reset, detach = f[0], f[1]
    kind, sa, sb = int(sg[0]), sg[1], sg[2]
    zero = x.dtype.type(0)
    one = x.dtype.type(1)
    blocks = (n + bm - 1) // bm
    for blk in prange(blocks):
        lo = blk * bm
        hi = min(n, lo + bm)
        m = hi - lo
        hs = np.empty((t_len, m), x.dtype)  # charged membrane h_t
        vs = np.empty((t_len, m), x.dtype)  # membrane entering step t
        As = np.empty((t_len, m), x.dtype)  # adaptation entering step t
        v = v0[lo:hi].copy()
        a = a0[lo:hi].copy()
        for t in range(t_len):
            for j in range(m):
                vj = v[j]
                aj = a[j]
                vs[t, j] = vj
                As[t, j] = aj
                h = decay * vj + leak + gain * x[t, lo + j]
                hs[t, j] = h
                theta = vth + beta_a * aj
                fired = h - theta >= zero
                v[j] = _reset(h, fired, theta, v_reset, reset)
                a[j] = adecay * aj + (one if fired else zero)
        gv = g_vt[lo:hi].copy()
        ga = g_at[lo:hi].copy()
        acc_decay = 0.0
        acc_leak = 0.0
        acc_gain = 0.0
        acc_vth = 0.0
        acc_adecay = 0.0
        for t in range(t_len - 1, -1, -1):
            for j in range(m):
                h = hs[t, j]
                aj = As[t, j]
                theta = vth + beta_a * aj
                z = h - theta
                s = one if z >= zero else zero
                d = x.dtype.type(surrogate_grad(z, kind, sa, sb))
                gvj = gv[j]
                gaj = ga[j]
                if reset == 0:
                    dv_dh, dv_ds, dv_dth = one - s, v_reset - h, zero
                elif reset == 1:
                    dv_dh, dv_ds, dv_dth = one, -theta, -s
                else:
                    dv_dh, dv_ds, dv_dth = one, zero, zero
                gs = g_out[t, lo + j] + gaj  # the spike feeds the output and the adaptation (never detached)
                if not detach:
                    gs += gvj * dv_ds
                gz = gs * d
                gh = gz + gvj * dv_dh
                g_th = -gz + gvj * dv_dth
                xt = x[t, lo + j]
                acc_decay += gh * vs[t, j]
                acc_leak += gh
                acc_gain += gh * xt
                acc_vth += g_th
                acc_adecay += gaj * aj
                g_x[t, lo + j] = gh * gain
                gv[j] = gh * decay
                ga[j] = gaj * adecay + g_th * beta_a
        g_v0[lo:hi] = gv
        g_a0[lo:hi] = ga
        partial[blk, 0] = acc_decay
        partial[blk, 1] = acc_leak
        partial[blk, 2] = acc_gain
        partial[blk, 3] = acc_vth
        partial[blk, 4] = acc_adecay
