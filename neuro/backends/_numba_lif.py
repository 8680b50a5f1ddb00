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

Nothing per time step is stored between forward and backward. The backward recomputes in two passes:
:func:`charge_kernel` writes every step's charged membrane ``h`` into the gradient buffer (and CubaLIF's
synaptic current into one more buffer), then :func:`adjoint_kernel` runs the adjoint recurrence
backwards in time over it and overwrites it with the gradient (on the benchmark shapes this beat one
pass that recomputes each block into a local buffer and runs its adjoint at once). Per-block partial
sums of the scalar gradients go to ``partial[block]`` (summed by the caller in a fixed order:
deterministic).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

from neuro.backends._spec import surrogate_constants

__all__ = [
    "BLOCK",
    "SIGMOID_EXP32",
    "adjoint_kernel",
    "averaged_incoming",
    "backward_block",
    "block_affine",
    "charge_kernel",
    "exp32",
    "forward_kernel",
    "kernel_surrogate",
    "plane_block",
    "pooled_incoming",
    "surrogate_constants",
    "surrogate_grad",
]

#: Kernel code of the Sigmoid surrogate on float32 computed with :func:`exp32` in the kernel (vectorised);
#: code 1 (Sigmoid) is left to torch's ``sigmoid_`` (float64, where a float32 polynomial is not accurate enough).
SIGMOID_EXP32 = 6


def kernel_surrogate(kind: int, dtype: np.dtype | type) -> int:
    """The kernels' code for surrogate ``kind`` on ``dtype``: :data:`SIGMOID_EXP32` for a float32 Sigmoid."""
    return SIGMOID_EXP32 if kind == 1 and np.dtype(dtype) == np.float32 else kind

#: Neurons per forward block.
BLOCK = 2048


def plane_block(h: int, w: int) -> int:
    """Whole ``h x w`` planes per block of the kernels with a pool (about :data:`BLOCK` neurons, at least one plane)."""
    return max(1, BLOCK // (h * w))


@intrinsic
def _pow2(typingctx, n):
    """``2.0 ** n`` as a float32 for an int32 ``n`` in [-126, 127]: ``n + 127`` put in the exponent bits."""
    if n != types.int32:
        return None

    def codegen(context, builder, sig, args):
        i32 = ir.IntType(32)
        bits = builder.shl(builder.add(args[0], ir.Constant(i32, 127)), ir.Constant(i32, 23))
        return builder.bitcast(bits, ir.FloatType())

    return types.float32(types.int32), codegen


@njit(inline="always", cache=True, error_model="numpy")
def exp32(x):
    """``exp(x)`` of a float32 within 2 ulp (clamped to [-87, 88]; NaN gives NaN), in operations LLVM vectorises
    (numba's ``math.exp`` is a scalar libm call): ``x = n ln2 + r`` with ``|r| <= ln2 / 2`` (``ln2`` in two
    parts), ``exp(r)`` by Cephes' ``expf`` minimax polynomial, times ``2^n`` from its exponent bits."""
    x = np.float32(-87.0) if x < np.float32(-87.0) else x  # comparisons, not min/max: a NaN stays NaN
    x = np.float32(88.0) if x > np.float32(88.0) else x
    t = x * np.float32(1.44269504088896341)
    n = (t + np.float32(12582912.0)) - np.float32(12582912.0)  # round to nearest (|t| < 2^22)
    r = x - n * np.float32(0.693359375) - n * np.float32(-2.12194440e-4)
    p = np.float32(1.9875691500e-4)
    p = p * r + np.float32(1.3981999507e-3)
    p = p * r + np.float32(8.3334519073e-3)
    p = p * r + np.float32(4.1665795894e-2)
    p = p * r + np.float32(1.6666665459e-1)
    p = p * r + np.float32(5.0000001201e-1)
    p = p * (r * r) + r + np.float32(1.0)
    n = n if n == n else np.float32(0.0)  # a NaN input (p is NaN then) converts no NaN to an integer
    return p * _pow2(np.int32(n))


@njit(inline="always", cache=True, error_model="numpy")
def surrogate_grad(z, kind, k1, k2, one, zero):
    """d spike / d z of the surrogate ``kind`` (formulas of :mod:`neuro.core.surrogate`), in ``z``'s dtype."""
    if kind == 0:  # ATan
        u = k1 * z
        return k2 / (one + u * u)
    if kind == 1:  # Sigmoid
        s = one / (one + math.exp(-(k1 * z)))
        return k1 * s * (one - s)
    if kind == 6:  # Sigmoid, float32: SIGMOID_EXP32
        s = one / (one + exp32(-(k1 * z)))
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


@njit(inline="always", cache=True, error_model="numpy")
def charge(v, inp, decay, leak, gain, vth, v_reset, reset, delayed, no_leak, zero):
    """The charged membrane ``h`` from the state ``v`` and the input ``inp``; a delayed reset (last step's spike,
    ``v >= vth``) acts here: to ``v_reset`` before the leak (hard) or minus ``vth`` after it (subtract)."""
    if delayed and reset == 0 and v - vth >= zero:
        v = v_reset
    h = v + gain * inp if no_leak else decay * v + leak + gain * inp
    if delayed and reset == 1 and v - vth >= zero:
        h = h + (-vth)
    return h


@njit(inline="always", cache=True, error_model="numpy")
def after_spike(h, fired, threshold, v_reset, reset):
    """The membrane after the spike decision: ``v_reset`` (``reset`` 0, hard), ``h - threshold`` (1, subtract)
    or ``h`` (2: none, or a delayed reset, which acts at the next step)."""
    if reset == 0:
        return v_reset if fired else h
    if reset == 1:
        return h - threshold if fired else h
    return h


@njit(inline="always", cache=True, error_model="numpy")
def block_affine(alpha, beta, layout, lo, hi, al, be):
    """``al[j], be[j]``: the per-channel scale and shift of neuron ``lo + j`` (``layout = (inner, channels)``:
    neuron ``n`` is in channel ``(n // inner) % channels``), for :func:`forward_kernel`'s ``affine`` input."""
    inner, channels = layout[0], layout[1]
    m = hi - lo
    j = 0
    if inner == 1:  # channels last: runs of consecutive channels, copied
        ch = lo % channels
        while j < m:
            k = min(m - j, channels - ch)
            al[j:j + k] = alpha[ch:ch + k]
            be[j:j + k] = beta[ch:ch + k]
            j += k
            ch = 0
        return
    ch = (lo // inner) % channels  # runs of `inner` neurons of one channel, filled
    pos = lo % inner
    while j < m:
        k = min(m - j, inner - pos)
        al[j:j + k] = alpha[ch]
        be[j:j + k] = beta[ch]
        j += k
        pos = 0
        ch = ch + 1 if ch + 1 < channels else 0


def backward_block(t_len: int) -> int:
    """Neurons per block of ALIF's backward (:mod:`neuro.backends._numba_alif`): its T x block buffers stay in L2."""
    return max(16, min(BLOCK, 32768 // max(t_len, 1)))


@functools.cache
def forward_kernel(reset: int, delayed: bool, no_leak: bool, cuba: bool, record: bool, affine: bool = False
                   ) -> Callable[..., None]:
    """``kernel(x, v0, i0, c, out, v_out, i_out, v_seq, i_seq, alpha, beta, layout, b0, b1, bs)`` for these options.

    Writes the spikes ``out``, the final state ``v_out`` (``i_out``) and, when ``record``, every
    step's state into ``v_seq`` (``i_seq``). Without a synaptic current (not ``cuba``) ``i0`` and ``i_out``
    are not touched. With ``affine`` the neuron's input is ``alpha[ch] * x + beta[ch]``, a per-channel scale
    and shift (a normalisation folded in; :func:`block_affine`), else ``x`` and ``alpha``, ``beta``, ``layout``
    are not read.
    """

    mode = 2 if delayed else reset

    @njit(nogil=True, cache=True, error_model="numpy")
    def kernel(x, v0, i0, c, out, v_out, i_out, v_seq, i_seq, alpha, beta, layout, b0, b1, bs):
        t_len, n = x.shape
        decay, leak, gain, vth, v_reset, syn_decay, gain_syn = c[0], c[1], c[2], c[3], c[4], c[5], c[6]
        zero = x.dtype.type(0)
        one = x.dtype.type(1)
        al = np.empty(bs if affine else 1, x.dtype)
        be = np.empty(bs if affine else 1, x.dtype)
        for blk in range(b0, b1):
            lo = blk * bs
            hi = min(n, lo + bs)
            v = v0[lo:hi].copy()
            cur = i0[lo:hi].copy() if cuba else v0[0:0].copy()  # non-CubaLIF callers may pass a 1-element i0
            if affine:
                block_affine(alpha, beta, layout, lo, hi, al, be)
            for t in range(t_len):
                xt = x[t, lo:hi]
                ot = out[t, lo:hi]
                for j in range(hi - lo):
                    inp = al[j] * xt[j] + be[j] if affine else xt[j]
                    if cuba:
                        cur[j] = syn_decay * cur[j] + gain_syn * inp
                        inp = cur[j]
                    h = charge(v[j], inp, decay, leak, gain, vth, v_reset, reset, delayed, no_leak, zero)
                    fired = h - vth >= zero
                    ot[j] = one if fired else zero
                    v[j] = after_spike(h, fired, vth, v_reset, mode)
                if record:
                    v_seq[t, lo:hi] = v
                    if cuba:
                        i_seq[t, lo:hi] = cur
            v_out[lo:hi] = v
            if cuba:
                i_out[lo:hi] = cur

    return kernel


@functools.cache
def charge_kernel(reset: int, delayed: bool, no_leak: bool, cuba: bool, surrogate_arg: int = 0, affine: bool = False
                  ) -> Callable[..., None]:
    """``kernel(x, v0, i0, c, h_seq, i_seq, a, z_seq, alpha, beta, layout, b0, b1, bs)``: pass one of the backward
    (``affine``: the input is ``alpha[ch] * x + beta[ch]``, as in :func:`forward_kernel`).

    Writes the charged membrane ``h_t`` of every step into ``h_seq`` ``(T, N)`` and, for CubaLIF, the
    synaptic current ``i_t`` into ``i_seq``. ``h_seq`` may be ``x`` itself: each element is read before
    it is overwritten. ``surrogate_arg`` 1 (Sigmoid) or 5 (Erf) also writes the argument of the surrogate's
    transcendental part into ``z_seq``: ``a z`` or ``-(a z)^2`` with ``z = h_t - v_threshold``, so that torch
    applies ``sigmoid_``/``exp_`` in place (see :func:`_finish`) with no other pass over the sequence.
    """

    mode = 2 if delayed else reset

    @njit(nogil=True, cache=True, error_model="numpy")
    def kernel(x, v0, i0, c, h_seq, i_seq, a, z_seq, alpha, beta, layout, b0, b1, bs):
        t_len, n = x.shape
        decay, leak, gain, vth, v_reset, syn_decay, gain_syn = c[0], c[1], c[2], c[3], c[4], c[5], c[6]
        zero = x.dtype.type(0)
        al = np.empty(bs if affine else 1, x.dtype)
        be = np.empty(bs if affine else 1, x.dtype)
        for blk in range(b0, b1):
            lo = blk * bs
            hi = min(n, lo + bs)
            v = v0[lo:hi].copy()
            cur = i0[lo:hi].copy() if cuba else v0[0:0].copy()
            if affine:
                block_affine(alpha, beta, layout, lo, hi, al, be)
            for t in range(t_len):
                xt = x[t, lo:hi]
                ht = h_seq[t, lo:hi]
                it = i_seq[t if cuba else 0, lo:hi if cuba else lo + 1]
                zt = z_seq[t if surrogate_arg else 0, lo:hi if surrogate_arg else lo + 1]
                for j in range(hi - lo):
                    inp = al[j] * xt[j] + be[j] if affine else xt[j]
                    if cuba:
                        cur[j] = syn_decay * cur[j] + gain_syn * inp
                        inp = cur[j]
                        it[j] = inp
                    h = charge(v[j], inp, decay, leak, gain, vth, v_reset, reset, delayed, no_leak, zero)
                    ht[j] = h
                    if surrogate_arg == 1:
                        zt[j] = (h - vth) * a
                    elif surrogate_arg == 5:
                        u = (h - vth) * a
                        zt[j] = -(u * u)
                    fired = h - vth >= zero
                    v[j] = after_spike(h, fired, vth, v_reset, mode)

    return kernel


@njit(inline="always", cache=True, error_model="numpy")
def pooled_incoming(argt, gpt, lo, m, shape, gl, zero):
    """``gl[:m]``: the gradient reaching the spikes of neurons ``lo:lo + m`` (whole ``h x w`` planes) from the
    gradient ``gpt`` of their ``k x k`` max-pooled spikes (``shape = (k, h, w)``, window = stride, floor mode):
    each window's gradient goes to the neuron at its position ``argt`` (row-major in the window, recorded by
    the forward pass: the first neuron that fired, else the first neuron), every other neuron gets zero."""
    k, h, w = shape[0], shape[1], shape[2]
    hw = h * w
    oh, ow = h // k, w // k
    for j in range(m):
        gl[j] = zero
    for p in range(m // hw):
        for i in range(oh):
            r0 = p * hw + k * i * w  # the window row's first neuron in the block
            o0 = ((lo // hw + p) * oh + i) * ow
            for j in range(ow):
                o = np.uint64(o0 + j)  # unsigned indices: no negative-index wraparound on every access
                q = np.int64(argt[o])
                gl[np.uint64(r0 + k * j + (q // k) * w + q % k)] = gpt[o]


@njit(inline="always", cache=True, error_model="numpy")
def averaged_incoming(gpt, lo, m, shape, gl, zero):
    """``gl[:m]`` as :func:`pooled_incoming` for ``k x k`` average pooling: each window's gradient divided by
    ``k * k`` (as ``F.avg_pool2d``'s backward divides it) reaches each of its neurons."""
    k, h, w = shape[0], shape[1], shape[2]
    hw = h * w
    oh, ow = h // k, w // k
    area = gl.dtype.type(k * k)
    for j in range(m):
        gl[j] = zero
    for p in range(m // hw):
        for i in range(oh):
            o0 = ((lo // hw + p) * oh + i) * ow
            for dy in range(k):
                r = p * hw + (k * i + dy) * w  # a row of the window row
                for j in range(ow):
                    g = gpt[np.uint64(o0 + j)] / area
                    for dx in range(k):
                        gl[np.uint64(r + k * j + dx)] = g


@functools.cache
def adjoint_kernel(reset: int, delayed: bool, detach: bool, no_leak: bool, cuba: bool, surrogate: int, pre_d: bool,
                   scalar_grads: bool, pool: int = 0) -> Callable[..., None]:
    """``kernel(g, x, v0, i0, i_seq, c, sg, dd, g_out, g_vt, g_it, g_v0, g_i0, partial, arg, shape, b0, b1,
    bs)``: pass two.

    An empty ``g_vt`` stands for a zero gradient of the final membrane, an empty ``g_v0`` for an unwanted
    gradient of the initial one; without a synaptic current (not ``cuba``) ``i0``, ``g_it`` and ``g_i0`` are
    not read or written (callers pass 1-element arrays). With ``pool`` 1 (2), ``g_out`` ``(T, P)`` is the gradient
    of the spikes max-pooled (average-pooled) over windows ``shape = (k, h, w)`` (:func:`pooled_incoming`,
    :func:`averaged_incoming`; blocks hold whole planes; for max pooling ``arg`` ``(T, P)`` holds each
    window's maximum, as the forward pass recorded it), else (0) ``g_out`` ``(T, N)`` is the spikes' own
    gradient and ``arg`` and ``shape`` are not read.

    ``g`` holds ``h`` from :func:`charge_kernel` on entry and ``dL/dx`` on exit (each element is read, then
    overwritten) while the adjoint recurrence runs backwards in time. The state entering step ``t`` is
    ``h_{t-1}`` (delayed reset) or its reset, still in ``g[t - 1]`` when step ``t`` is processed (``v0`` at
    ``t = 0``); CubaLIF's currents come from ``i_seq``. With ``scalar_grads``, ``partial[block]`` receives
    d/d(decay, leak, gain, v_threshold, syn_decay, gain_syn) of the block; ``x`` is then read again (it must
    not be ``g``).
    """

    @njit(nogil=True, cache=True, error_model="numpy")
    def kernel(g, x, v0, i0, i_seq, c, sg, dd, g_out, g_vt, g_it, g_v0, g_i0, partial, arg, shape, b0, b1, bs):
        t_len, n = g.shape
        decay, gain, vth, v_reset, syn_decay, gain_syn = c[0], c[2], c[3], c[4], c[5], c[6]
        k1, k2 = sg[0], sg[1]
        zero = g.dtype.type(0)
        one = g.dtype.type(1)
        dh_dv = one if no_leak else decay
        acc = np.empty((6, bs if scalar_grads else 1))  # per neuron: decay, leak, gain, v_th, syn_decay, gain_syn
        gl = np.empty(bs if pool else 1, dtype=g.dtype)  # the spikes' gradient of one step, from the pooled one
        for blk in range(b0, b1):
            lo = blk * bs
            hi = min(n, lo + bs)
            m = hi - lo
            gv = g_vt[lo:hi].copy() if g_vt.shape[0] == n else np.zeros_like(v0[lo:hi])  # empty g_vt: zero
            gi = g_it[lo:hi].copy() if cuba else gv[0:0].copy()
            acc[:] = 0.0
            for t in range(t_len - 1, -1, -1):
                gt = g[t, lo:hi]
                if pool == 1:
                    pooled_incoming(arg[t], g_out[t], lo, m, shape, gl, zero)
                    got = gl
                elif pool == 2:
                    averaged_incoming(g_out[t], lo, m, shape, gl, zero)
                    got = gl
                else:
                    got = g_out[t, lo:hi]
                ddt = dd[t, lo:hi] if pre_d else dd[0, 0:1]
                xt = x[t, lo:hi] if scalar_grads else x[0, 0:1]
                need_state = delayed or (scalar_grads and not no_leak)
                prev = g[t - 1 if t > 0 else 0, lo:hi] if need_state else x[0, 0:1]
                v_first = v0[lo:hi] if need_state else x[0, 0:1]
                it = i_seq[t if cuba else 0, lo:hi if cuba else lo + 1]
                ip = (i_seq[t - 1, lo:hi] if t > 0 else i0[lo:hi]) if cuba else it
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
                        acc[2, j] += gh * (it[j] if cuba else xt[j])
                        if not no_leak:
                            acc[0, j] += gh * (v_reset if fired_prev and reset == 0 else state)
                            acc[1, j] += gh
                    gv[j] = zero if fired_prev and reset == 0 else gh * dh_dv
                    if cuba:
                        gcur = gh * gain + gi[j]
                        if scalar_grads:
                            acc[4, j] += gcur * ip[j]
                            acc[5, j] += gcur * xt[j]
                        gt[j] = gcur * gain_syn
                        gi[j] = gcur * syn_decay
                    else:
                        gt[j] = gh * gain
            if g_v0.shape[0] == n:  # an empty g_v0: not wanted
                g_v0[lo:hi] = gv
            if cuba:
                g_i0[lo:hi] = gi
            if scalar_grads:
                for k in range(6):
                    partial[blk, k] = acc[k, :m].sum()

    return kernel
