"""Numba kernels of the LIF family (LIF, PLIF, IF, CubaLIF): a whole sequence per call.

Arrays are time-major ``(T, N)`` (``N`` = every neuron of every sample); neurons are processed in
blocks of :data:`BLOCK`, in parallel, with the time loop inside, so the membrane stays in cache
and the input is read and the spikes written exactly once. The forward arithmetic repeats the
reference step's float operations in the same order (spikes are bit-identical to
:func:`~neuro.neurons.lif.lif_step`).

Backward recomputes the forward pass per block into a block-local buffer (only the input is kept
between forward and backward: no membrane or spike sequence is stored), then runs the adjoint
recurrence backwards in time. Per-block partial sums of the scalar gradients come back in
``partial`` (summed by the caller in a fixed order, so results are deterministic).

Codes: ``reset`` 0 hard, 1 subtract, 2 none; ``surrogate`` as in :mod:`neuro.backends._spec`.
The membrane update is ``h = decay * v + leak + gain * x`` (``v + gain * x`` for IF), the synaptic
current ``i = syn_decay * i + gain_syn * x``. ``c`` holds ``decay, leak, gain, v_threshold, v_reset,
syn_decay, gain_syn`` in the input dtype; ``f`` holds ``reset, delayed, detach, no_leak, cuba, record``.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

__all__ = ["BLOCK", "backward_block", "lif_backward", "lif_forward", "surrogate_grad"]

#: Neurons per parallel block.
BLOCK = 2048


@njit(inline="always", cache=True)
def surrogate_grad(z, kind, a, b):
    """d spike / d z of the surrogate ``kind`` (same formulas as :mod:`neuro.core.surrogate`)."""
    if kind == 0:  # ATan
        u = (math.pi / 2) * a * z
        return (a / 2) / (1 + u * u)
    if kind == 1:  # Sigmoid
        s = 1.0 / (1.0 + math.exp(-a * z))
        return a * s * (1 - s)
    if kind == 2:  # FastSigmoid
        d = a * abs(z) + 1.0
        return 1.0 / (d * d)
    if kind == 3:  # Triangle
        return max(1.0 - abs(z) / a, 0.0) / a
    if kind == 4:  # Rectangular
        return b if abs(z) < a / 2 else 0.0
    return a / math.sqrt(math.pi) * math.exp(-((a * z) ** 2))  # Erf


@njit(inline="always", cache=True)
def _charge(v, x, decay, leak, gain, no_leak):
    if no_leak:
        return v + gain * x
    return decay * v + leak + gain * x


@njit(parallel=True, cache=True)
def lif_forward(x, v0, i0, c, f, out, v_out, i_out, v_seq, i_seq):
    """Spikes ``out`` and final state ``v_out`` (``i_out``) of a whole sequence; ``v_seq``/``i_seq`` when recording."""
    t_len, n = x.shape
    decay, leak, gain, vth, v_reset, syn_decay, gain_syn = c[0], c[1], c[2], c[3], c[4], c[5], c[6]
    reset, delayed, no_leak, cuba, record = f[0], f[1], f[3], f[4], f[5]
    zero = x.dtype.type(0)
    one = x.dtype.type(1)
    blocks = (n + BLOCK - 1) // BLOCK
    for blk in prange(blocks):
        lo = blk * BLOCK
        hi = min(n, lo + BLOCK)
        v = v0[lo:hi].copy()
        cur = i0[lo:hi].copy()
        for t in range(t_len):
            xt = x[t, lo:hi]
            ot = out[t, lo:hi]
            for j in range(hi - lo):
                inp = xt[j]
                if cuba:
                    cur[j] = syn_decay * cur[j] + gain_syn * inp
                    inp = cur[j]
                vj = v[j]
                after = zero
                if delayed:
                    if vj - vth >= zero:  # last step's spike, reset now (snnTorch timing)
                        if reset == 0:
                            vj = v_reset
                        elif reset == 1:
                            after = -vth
                h = _charge(vj, inp, decay, leak, gain, no_leak)
                if delayed and reset == 1:
                    h = h + after
                fired = h - vth >= zero
                ot[j] = one if fired else zero
                if delayed or not fired or reset == 2:
                    v[j] = h
                elif reset == 0:
                    v[j] = v_reset
                else:
                    v[j] = h - vth
            if record:
                v_seq[t, lo:hi] = v
                if cuba:
                    i_seq[t, lo:hi] = cur
        v_out[lo:hi] = v
        i_out[lo:hi] = cur


def backward_block(t_len: int) -> int:
    """Neurons per block of :func:`lif_backward`: its T x block buffers stay in the L2 cache."""
    return max(16, min(BLOCK, 32768 // max(t_len, 1)))


@njit(inline="always", cache=True)
def _after_step(h, vth, v_reset, reset, delayed):
    """The state a step leaves behind, given its charged membrane ``h``."""
    if delayed or reset == 2 or h - vth < 0:
        return h
    if reset == 0:
        return v_reset
    return h - vth


@njit(parallel=True, cache=True)
def lif_backward(x, v0, i0, c, f, sg, bm, g_out, g_vt, g_it, g_x, g_v0, g_i0, partial):
    """Adjoint pass. ``partial[block]`` gets d/d(decay, leak, gain, v_threshold, syn_decay, gain_syn) of the block."""
    t_len, n = x.shape
    decay, leak, gain, vth, v_reset, syn_decay, gain_syn = c[0], c[1], c[2], c[3], c[4], c[5], c[6]
    reset, delayed, detach, no_leak, cuba = f[0], f[1], f[2], f[3], f[4]
    kind, sa, sb = int(sg[0]), sg[1], sg[2]
    zero = x.dtype.type(0)
    one = x.dtype.type(1)
    dh_dv = one if no_leak else decay
    blocks = (n + bm - 1) // bm
    for blk in prange(blocks):
        lo = blk * bm
        hi = min(n, lo + bm)
        m = hi - lo
        hs = np.empty((t_len, m), x.dtype)  # charged membrane h_t, recomputed
        ins = np.empty((t_len if cuba else 1, m if cuba else 1), x.dtype)  # synaptic current i_t
        v = v0[lo:hi].copy()
        cur = i0[lo:hi].copy()
        for t in range(t_len):
            for j in range(m):
                inp = x[t, lo + j]
                if cuba:
                    cur[j] = syn_decay * cur[j] + gain_syn * inp
                    inp = cur[j]
                    ins[t, j] = inp
                vj = v[j]
                h_extra = zero
                if delayed and vj - vth >= zero:
                    if reset == 0:
                        vj = v_reset
                    elif reset == 1:
                        h_extra = -vth
                h = _charge(vj, inp, decay, leak, gain, no_leak)
                if delayed and reset == 1:
                    h = h + h_extra
                hs[t, j] = h
                v[j] = _after_step(h, vth, v_reset, reset, delayed)
        gv = g_vt[lo:hi].copy()
        gi = g_it[lo:hi].copy()
        acc_decay = 0.0
        acc_leak = 0.0
        acc_gain = 0.0
        acc_vth = 0.0
        acc_sdecay = 0.0
        acc_gsyn = 0.0
        for t in range(t_len - 1, -1, -1):
            for j in range(m):
                h = hs[t, j]
                if t == 0:
                    state = v0[lo + j]
                else:
                    state = _after_step(hs[t - 1, j], vth, v_reset, reset, delayed)
                fired_prev = delayed and state - vth >= zero
                vdec = v_reset if fired_prev and reset == 0 else state
                z = h - vth
                d = x.dtype.type(surrogate_grad(z, kind, sa, sb))
                go = g_out[t, lo + j]
                gvj = gv[j]
                if delayed:  # the state is h itself; its reset happens at the next step
                    gh = go * d + gvj
                    g_th = -go * d
                    if reset == 1 and fired_prev:
                        g_th -= gh
                else:
                    s = one if z >= zero else zero
                    if reset == 0:
                        dv_dh, dv_ds, dv_dth = one - s, v_reset - h, zero
                    elif reset == 1:
                        dv_dh, dv_ds, dv_dth = one, -vth, -s
                    else:
                        dv_dh, dv_ds, dv_dth = one, zero, zero
                    gs = go if detach else go + gvj * dv_ds
                    gh = gs * d + gvj * dv_dh
                    g_th = -gs * d + gvj * dv_dth
                acc_vth += g_th
                inp = ins[t, j] if cuba else x[t, lo + j]
                acc_gain += gh * inp
                if not no_leak:
                    acc_decay += gh * vdec
                    acc_leak += gh
                gv[j] = zero if fired_prev and reset == 0 else gh * dh_dv
                if cuba:
                    gcur = gh * gain + gi[j]
                    prev_i = i0[lo + j] if t == 0 else ins[t - 1, j]
                    acc_sdecay += gcur * prev_i
                    acc_gsyn += gcur * x[t, lo + j]
                    g_x[t, lo + j] = gcur * gain_syn
                    gi[j] = gcur * syn_decay
                else:
                    g_x[t, lo + j] = gh * gain
        g_v0[lo:hi] = gv
        g_i0[lo:hi] = gi
        partial[blk, 0] = acc_decay
        partial[blk, 1] = acc_leak
        partial[blk, 2] = acc_gain
        partial[blk, 3] = acc_vth
        partial[blk, 4] = acc_sdecay
        partial[blk, 5] = acc_gsyn
