"""Numba kernels of the LIF family (LIF, PLIF, IF, CubaLIF): a whole sequence per call.

Arrays are time-major ``(T, N)`` (``N`` = every neuron of every sample). A kernel processes blocks
``[b0, b1)`` of ``bs`` neurons with the time loop inside, so the membrane stays in cache and the
input is read and the spikes written exactly once; :func:`~neuro.backends._parallel.run_blocks`
spreads the blocks over threads. Each option combination gets its own kernel (the options are
compile-time constants, so the inner loop has no branches on them and vectorises); kernels compile
on first use and are cached on disk by numba.

The membrane update is ``h = decay * v + leak + gain * x`` (``v + gain * x`` for IF), the synaptic
current ``i = syn_decay * i + gain_syn * x``, with the same float operations in the same order as the
reference step, so spikes are bit-identical to it. ``c`` holds ``decay, leak, gain, v_threshold,
v_reset, syn_decay, gain_syn`` in the input dtype. Reset codes: 0 hard, 1 subtract, 2 none.

Nothing per time step is stored between forward and backward. The backward recomputes the charged
membrane: for every neuron but CubaLIF in two passes (:func:`charge_kernel` writes ``h`` into the
gradient buffer, :func:`adjoint_kernel` runs the adjoint recurrence backwards in time over it and
overwrites it with the gradient; measured three times faster than one fused pass), for CubaLIF in
:func:`backward_kernel`, which recomputes each block into a block-local buffer (it also needs the
synaptic current of every step). Per-block partial sums of the scalar gradients go to
``partial[block]`` (summed by the caller in a fixed order: deterministic).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import numpy as np
from numba import njit

from neuro.backends._spec import surrogate_constants

__all__ = ["BLOCK", "adjoint_kernel", "backward_block", "backward_kernel", "charge_kernel", "forward_kernel",
           "surrogate_constants", "surrogate_grad"]

#: Neurons per forward block.
BLOCK = 2048


@njit(inline="always", cache=True, error_model="numpy")
def surrogate_grad(z, kind, k1, k2, one, zero):
    """d spike / d z of the surrogate ``kind`` (formulas of :mod:`neuro.core.surrogate`), in ``z``'s dtype."""
    if kind == 0:  # ATan
        u = k1 * z
        return k2 / (one + u * u)
    if kind == 1:  # Sigmoid
        s = one / (one + math.exp(-(k1 * z)))
        return k1 * s * (one - s)
    if kind == 2:  # FastSigmoid
        d = k1 * abs(z) + one
        return one / (d * d)
    if kind == 3:  # Triangle
        return max(one - abs(z) / k1, zero) / k1
    if kind == 4:  # Rectangular
        return k2 if abs(z) < k1 else zero
    return k2 * math.exp(-((k1 * z) * (k1 * z)))  # Erf


@njit(inline="always", cache=True, error_model="numpy")
def _finish(e, kind, k1, k2, one):
    """The Sigmoid/Erf derivative from its transcendental part ``e`` (computed by torch, vectorised):
    ``e = sigmoid(a z)`` gives ``a e (1 - e)``, ``e = exp(-(a z)^2)`` gives ``a / sqrt(pi) e``."""
    if kind == 1:
        return k1 * e * (one - e)
    return k2 * e


def backward_block(t_len: int) -> int:
    """Neurons per backward block: its T x block buffers stay in the L2 cache."""
    return max(16, min(BLOCK, 32768 // max(t_len, 1)))


@functools.cache
def forward_kernel(reset: int, delayed: bool, no_leak: bool, cuba: bool, record: bool, store_h: bool = False
                   ) -> Callable[..., None]:
    """``kernel(x, v0, i0, c, out, v_out, i_out, v_seq, i_seq, b0, b1, bs)`` for these options.

    Writes the spikes ``out``, the final state ``v_out`` (``i_out``) and, when ``record``, every
    step's state into ``v_seq`` (``i_seq``); with ``store_h`` instead the charged membrane into ``v_seq``.
    """

    @njit(nogil=True, cache=True, error_model="numpy")
    def kernel(x, v0, i0, c, out, v_out, i_out, v_seq, i_seq, b0, b1, bs):
        t_len, n = x.shape
        decay, leak, gain, vth, v_reset, syn_decay, gain_syn = c[0], c[1], c[2], c[3], c[4], c[5], c[6]
        zero = x.dtype.type(0)
        one = x.dtype.type(1)
        for blk in range(b0, b1):
            lo = blk * bs
            hi = min(n, lo + bs)
            v = v0[lo:hi].copy()
            cur = i0[lo:hi].copy()
            for t in range(t_len):
                xt = x[t, lo:hi]
                ot = out[t, lo:hi]
                hrow = v_seq[t if store_h else 0, lo:hi] if store_h else v_seq[0, 0:1]
                for j in range(hi - lo):
                    inp = xt[j]
                    if cuba:
                        cur[j] = syn_decay * cur[j] + gain_syn * inp
                        inp = cur[j]
                    vj = v[j]
                    if delayed and reset == 0 and vj - vth >= zero:  # last step's spike resets now
                        vj = v_reset
                    if no_leak:
                        h = vj + gain * inp
                    else:
                        h = decay * vj + leak + gain * inp
                    if delayed and reset == 1 and vj - vth >= zero:
                        h = h + (-vth)
                    fired = h - vth >= zero
                    ot[j] = one if fired else zero
                    if store_h:
                        hrow[j] = h
                    if delayed or reset == 2:
                        v[j] = h
                    elif reset == 0:
                        v[j] = v_reset if fired else h
                    else:
                        v[j] = h - vth if fired else h
                if record:
                    v_seq[t, lo:hi] = v
                    if cuba:
                        i_seq[t, lo:hi] = cur
            v_out[lo:hi] = v
            i_out[lo:hi] = cur

    return kernel


@functools.cache
def backward_kernel(reset: int, delayed: bool, detach: bool, no_leak: bool, cuba: bool, surrogate: int,
                    scalar_grads: bool, pre_d: bool = False) -> Callable[..., None]:
    """``kernel(x, v0, i0, c, sg, dd, g_out, g_vt, g_it, g_x, g_v0, g_i0, partial, b0, b1, bs)``.

    With ``pre_d`` the transcendental part of every step's surrogate derivative is read from ``dd`` ``(T, N)`` (by
    torch's vectorised ``exp`` for the Sigmoid and Erf surrogates; numba's ``exp`` is a scalar call).

    ``sg`` holds :func:`surrogate_constants` in the input dtype; with ``scalar_grads``, ``partial[block]`` receives
    d/d(decay, leak, gain, v_threshold, syn_decay, gain_syn) of that block (per-neuron accumulators,
    so the inner loop still vectorises).
    """

    @njit(nogil=True, cache=True, error_model="numpy")
    def kernel(x, v0, i0, c, sg, dd, g_out, g_vt, g_it, g_x, g_v0, g_i0, partial, b0, b1, bs):
        t_len, n = x.shape
        decay, leak, gain, vth, v_reset, syn_decay, gain_syn = c[0], c[1], c[2], c[3], c[4], c[5], c[6]
        k1, k2 = sg[0], sg[1]
        zero = x.dtype.type(0)
        one = x.dtype.type(1)
        dh_dv = one if no_leak else decay
        need_state = delayed or (scalar_grads and not no_leak)  # the state entering each step is read back
        # block-local buffers, allocated once per call (not per block: large mallocs page-fault every time)
        hs_buf = np.empty((t_len, bs), x.dtype)  # charged membrane h_t, recomputed
        vs_buf = np.empty((t_len if need_state else 1, bs), x.dtype)  # state entering step t (pre delayed reset)
        ins_buf = np.empty((t_len if cuba else 1, bs if cuba else 1), x.dtype)  # synaptic current i_t
        acc_buf = np.empty((6, bs if scalar_grads else 1))  # per neuron: decay, leak, gain, v_th, syn_decay, gain_syn
        for blk in range(b0, b1):
            lo = blk * bs
            hi = min(n, lo + bs)
            m = hi - lo
            hs = hs_buf[:, :m]
            vs = vs_buf[:, :m]
            ins = ins_buf[:, :m] if cuba else ins_buf
            v = v0[lo:hi].copy()
            cur = i0[lo:hi].copy()
            for t in range(t_len):
                xt = x[t, lo:hi]
                ht = hs[t]
                vt = vs[t] if need_state else vs[0]
                it = ins[t] if cuba else ins[0]
                for j in range(m):
                    inp = xt[j]
                    if cuba:
                        cur[j] = syn_decay * cur[j] + gain_syn * inp
                        inp = cur[j]
                        it[j] = inp
                    vj = v[j]
                    if need_state:
                        vt[j] = vj
                    if delayed and reset == 0 and vj - vth >= zero:
                        vj = v_reset
                    if no_leak:
                        h = vj + gain * inp
                    else:
                        h = decay * vj + leak + gain * inp
                    if delayed and reset == 1 and vj - vth >= zero:
                        h = h + (-vth)
                    ht[j] = h
                    fired = h - vth >= zero
                    if delayed or reset == 2:
                        v[j] = h
                    elif reset == 0:
                        v[j] = v_reset if fired else h
                    else:
                        v[j] = h - vth if fired else h
            gv = g_vt[lo:hi].copy()
            gi = g_it[lo:hi].copy()
            acc = acc_buf[:, :m] if scalar_grads else acc_buf
            acc[:] = 0.0
            for t in range(t_len - 1, -1, -1):
                xt = x[t, lo:hi]
                got = g_out[t, lo:hi]
                gxt = g_x[t, lo:hi]
                ddt = dd[t, lo:hi] if pre_d else dd[0, 0:1]
                ht = hs[t]
                vt = vs[t] if need_state else vs[0]
                it = ins[t] if cuba else ins[0]
                ip = (ins[t - 1] if t > 0 else i0[lo:hi]) if cuba else ins[0]
                for j in range(m):
                    h = ht[j]
                    state = vt[j] if need_state else zero
                    fired_prev = delayed and state - vth >= zero
                    z = h - vth
                    if pre_d:
                        d = _finish(ddt[j], surrogate, k1, k2, one)
                    else:
                        d = surrogate_grad(z, surrogate, k1, k2, one, zero)
                    go = got[j]
                    gvj = gv[j]
                    if delayed:  # the state is h itself; its reset happens at the next step
                        gh = go * d + gvj
                        g_th = -go * d
                        if reset == 1 and fired_prev:
                            g_th -= gh
                    else:
                        fired = z >= zero
                        if reset == 0:
                            dv_dh = zero if fired else one
                            dv_ds = v_reset - h
                            dv_dth = zero
                        elif reset == 1:
                            dv_dh = one
                            dv_ds = -vth
                            dv_dth = -one if fired else zero
                        else:
                            dv_dh, dv_ds, dv_dth = one, zero, zero
                        gs = go if detach else go + gvj * dv_ds
                        gh = gs * d + gvj * dv_dh
                        g_th = -gs * d + gvj * dv_dth
                    inp = it[j] if cuba else xt[j]
                    if scalar_grads:
                        acc[3, j] += g_th
                        acc[2, j] += gh * inp
                        if not no_leak:
                            acc[0, j] += gh * (v_reset if fired_prev and reset == 0 else state)
                            acc[1, j] += gh
                    gv[j] = zero if fired_prev and reset == 0 else gh * dh_dv
                    if cuba:
                        gcur = gh * gain + gi[j]
                        if scalar_grads:
                            acc[4, j] += gcur * ip[j]
                            acc[5, j] += gcur * xt[j]
                        gxt[j] = gcur * gain_syn
                        gi[j] = gcur * syn_decay
                    else:
                        gxt[j] = gh * gain
            g_v0[lo:hi] = gv
            g_i0[lo:hi] = gi
            if scalar_grads:
                for k in range(6):
                    partial[blk, k] = acc[k].sum()

    return kernel


@functools.cache
def charge_kernel(reset: int, delayed: bool, no_leak: bool) -> Callable[..., None]:
    """``kernel(x, v0, c, h, b0, b1, bs)``: the charged membrane ``h_t`` of every step into ``h`` ``(T, N)``.

    Pass one of the two-pass backward (the LIF family without synaptic current). ``h`` may be ``x``
    itself: each element is read before it is overwritten.
    """

    @njit(nogil=True, cache=True, error_model="numpy")
    def kernel(x, v0, c, h_seq, b0, b1, bs):
        t_len, n = x.shape
        decay, leak, gain, vth, v_reset = c[0], c[1], c[2], c[3], c[4]
        zero = x.dtype.type(0)
        for blk in range(b0, b1):
            lo = blk * bs
            hi = min(n, lo + bs)
            v = v0[lo:hi].copy()
            for t in range(t_len):
                xt = x[t, lo:hi]
                ht = h_seq[t, lo:hi]
                for j in range(hi - lo):
                    vj = v[j]
                    if delayed and reset == 0 and vj - vth >= zero:  # last step's spike resets now
                        vj = v_reset
                    if no_leak:
                        h = vj + gain * xt[j]
                    else:
                        h = decay * vj + leak + gain * xt[j]
                    if delayed and reset == 1 and vj - vth >= zero:
                        h = h + (-vth)
                    ht[j] = h
                    fired = h - vth >= zero
                    if delayed or reset == 2:
                        v[j] = h
                    elif reset == 0:
                        v[j] = v_reset if fired else h
                    else:
                        v[j] = h - vth if fired else h

    return kernel


@functools.cache
def adjoint_kernel(reset: int, delayed: bool, detach: bool, no_leak: bool, surrogate: int, pre_d: bool,
                   scalar_grads: bool) -> Callable[..., None]:
    """``kernel(g, x, v0, c, sg, dd, g_out, g_vt, g_v0, partial, b0, b1, bs)``: pass two of the two-pass backward.

    ``g`` holds ``h`` from :func:`charge_kernel` on entry and ``dL/dx`` on exit (each element is read, then
    overwritten); the adjoint recurrence runs backwards in time with the same formulas as
    :func:`backward_kernel`. Run separately, the two passes take a third of the time of the fused
    recompute-then-adjoint kernel (measured on W3 and W1 shapes; the fused form stays for the synaptic
    current, which needs more per step than ``h``).

    The state entering step ``t`` is ``h_{t-1}`` (delayed reset) or its reset, still in ``g[t - 1]`` when step
    ``t`` is processed (``v0`` at ``t = 0``). With ``scalar_grads``, ``partial[block]`` receives
    d/d(decay, leak, gain, v_threshold) of the block; the input is then read from ``x`` (which must not be ``g``).
    """

    @njit(nogil=True, cache=True, error_model="numpy")
    def kernel(g, x, v0, c, sg, dd, g_out, g_vt, g_v0, partial, b0, b1, bs):
        t_len, n = g.shape
        decay, gain, vth, v_reset = c[0], c[2], c[3], c[4]
        k1, k2 = sg[0], sg[1]
        zero = g.dtype.type(0)
        one = g.dtype.type(1)
        dh_dv = one if no_leak else decay
        acc = np.empty((4, bs if scalar_grads else 1))  # per neuron: decay, leak, gain, v_threshold
        for blk in range(b0, b1):
            lo = blk * bs
            hi = min(n, lo + bs)
            m = hi - lo
            gv = g_vt[lo:hi].copy()
            acc[:] = 0.0
            for t in range(t_len - 1, -1, -1):
                gt = g[t, lo:hi]
                got = g_out[t, lo:hi]
                ddt = dd[t, lo:hi] if pre_d else dd[0, 0:1]
                xt = x[t, lo:hi] if scalar_grads else x[0, 0:1]
                need_state = delayed or (scalar_grads and not no_leak)
                prev = g[t - 1 if t > 0 else 0, lo:hi] if need_state else x[0, 0:1]
                v_first = v0[lo:hi] if need_state else x[0, 0:1]
                for j in range(m):
                    h = gt[j]
                    z = h - vth
                    if pre_d:
                        d = _finish(ddt[j], surrogate, k1, k2, one)
                    else:
                        d = surrogate_grad(z, surrogate, k1, k2, one, zero)
                    go = got[j]
                    gvj = gv[j]
                    state = zero  # the state entering this step
                    if need_state:
                        if t == 0:
                            state = v_first[j]
                        elif delayed:
                            state = prev[j]
                        else:
                            hp = prev[j]
                            fp = hp - vth >= zero
                            if reset == 0:
                                state = v_reset if fp else hp
                            elif reset == 1:
                                state = hp - vth if fp else hp
                            else:
                                state = hp
                    fired_prev = delayed and state - vth >= zero
                    if delayed:  # the state is h itself; its reset happens at the next step
                        gh = go * d + gvj
                        g_th = -go * d
                        if reset == 1 and fired_prev:
                            g_th -= gh
                    else:
                        fired = z >= zero
                        if reset == 0:
                            dv_dh = zero if fired else one
                            dv_ds = v_reset - h
                            dv_dth = zero
                        elif reset == 1:
                            dv_dh = one
                            dv_ds = -vth
                            dv_dth = -one if fired else zero
                        else:
                            dv_dh, dv_ds, dv_dth = one, zero, zero
                        gs = go if detach else go + gvj * dv_ds
                        gh = gs * d + gvj * dv_dh
                        g_th = -gs * d + gvj * dv_dth
                    if scalar_grads:
                        acc[3, j] += g_th
                        acc[2, j] += gh * xt[j]
                        if not no_leak:
                            acc[0, j] += gh * (v_reset if fired_prev and reset == 0 else state)
                            acc[1, j] += gh
                    gv[j] = zero if fired_prev and reset == 0 else gh * dh_dv
                    gt[j] = gh * gain
            g_v0[lo:hi] = gv
            if scalar_grads:
                for k in range(4):
                    partial[blk, k] = acc[k, :m].sum()

    return kernel
