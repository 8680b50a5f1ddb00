"""Triton kernels of the LIF family (LIF, PLIF, IF, CubaLIF) for the ``triton`` backend.

Same maths, layout and strategy as :mod:`neuro.backends._numba_lif`: one program per block of
``BLOCK`` neurons of a time-major ``(T, N)`` input with the time loop inside; options are
``tl.constexpr`` so each combination compiles to a branch-free kernel. Constants come from a
tensor ``c`` in the compute dtype (``decay, leak, gain, v_threshold, v_reset, syn_decay, gain_syn,
k1, k2``; ``k1, k2`` are the surrogate's constants): float64 runs in float64 throughout, float32 in
float32, and float16/bfloat16 tensors (mixed-precision training) are loaded into float32, computed in
float32 and stored back in their own dtype, the membrane kept for the backward in float32.

The backward walks time backwards over the charged membrane ``h`` of every step: the forward writes
it (``SAVE_H``) when a gradient will be needed (``(T, N)``, what SpikingJelly's CUDA kernels keep
too), except for CubaLIF, whose backward first re-runs its block's forward pass into a scratch
buffer allocated only while the backward runs. Per-program partial sums of the scalar gradients
go to ``partial[pid]`` (``SCALAR_GRADS``; without it the backward reads no input, only ``h`` and
the output gradient). Importing this module requires ``triton``.
"""

from __future__ import annotations

import triton
import triton.language as tl

__all__ = ["BLOCK", "FP_FUSION", "NUM_WARPS", "grid", "lif_backward", "lif_forward"]

#: Neurons per program, and warps per program: 512/4 was the best of eight (BLOCK, warps) pairs on an H200 over
#: (T, N) = (64, 1M), (4, 6.4M), (4, 1.1M), forward and forward + backward (within ~1% of 256/4 on average).
BLOCK = 512
NUM_WARPS = 4
#: Whether the compiler may contract a multiply and an add into one fused multiply-add. Off: each operation
#: rounds as the reference's separate torch operations (and the numba kernels, and the interpreter) do, so a
#: membrane within a rounding of the threshold fires alike in all of them. Without it the kernels ran at 3.8 TB/s
#: on an H200, near its 4.2 TB/s copy rate (``experiments/gpu_tuning.py``).
FP_FUSION = False


@triton.jit
def _surrogate(z, k1, k2, SURROGATE: tl.constexpr):
    if SURROGATE == 0:  # ATan
        u = k1 * z
        d = k2 / (1.0 + u * u)
    elif SURROGATE == 1:  # Sigmoid
        s = 1.0 / (1.0 + tl.exp(-(k1 * z)))
        d = k1 * s * (1.0 - s)
    elif SURROGATE == 2:  # FastSigmoid
        q = k1 * tl.abs(z) + 1.0
        d = 1.0 / (q * q)
    elif SURROGATE == 3:  # Triangle
        d = tl.maximum(1.0 - tl.abs(z) / k1, 0.0) / k1
    elif SURROGATE == 4:  # Rectangular
        d = tl.where(tl.abs(z) < k1, k2, 0.0 * z)
    else:  # Erf
        d = k2 * tl.exp(-((k1 * z) * (k1 * z)))
    return d


@triton.jit
def _charge(v, inp, decay, leak, gain, vth, v_reset, RESET: tl.constexpr, DELAYED: tl.constexpr,
            NO_LEAK: tl.constexpr):
    """The charged membrane ``h`` of one step from the state ``v`` entering it."""
    fired_prev = (v - vth) >= 0.0
    vd = v
    if DELAYED and RESET == 0:
        vd = tl.where(fired_prev, v_reset + 0.0 * v, v)
    if NO_LEAK:
        h = vd + gain * inp
    else:
        h = decay * vd + leak + gain * inp
    if DELAYED and RESET == 1:
        h = tl.where(fired_prev, h + (-vth), h)
    return h


@triton.jit
def _after(h, vth, v_reset, RESET: tl.constexpr, DELAYED: tl.constexpr):
    fired = (h - vth) >= 0.0
    if DELAYED or RESET == 2:
        v = h
    elif RESET == 0:
        v = tl.where(fired, v_reset + 0.0 * h, h)
    else:
        v = tl.where(fired, h - vth, h)
    return v


@triton.jit
def _reset_grads(h, fired, vth, v_reset, zero, RESET: tl.constexpr):
    """``(dv/dh, dv/ds, dv/dvth)`` of an immediate reset of the charged membrane ``h`` (threshold ``vth``)."""
    if RESET == 0:
        dv_dh = tl.where(fired, zero, zero + 1.0)
        dv_ds = v_reset - h
        dv_dth = zero
    elif RESET == 1:
        dv_dh = zero + 1.0
        dv_ds = zero - vth
        dv_dth = tl.where(fired, zero - 1.0, zero)
    else:
        dv_dh = zero + 1.0
        dv_ds = zero
        dv_dth = zero
    return dv_dh, dv_ds, dv_dth


@triton.jit
def _constants9(c_ptr):
    """The nine kernel constants of ``c`` (see the module docstring; ALIF orders its own)."""
    return (tl.load(c_ptr + 0), tl.load(c_ptr + 1), tl.load(c_ptr + 2), tl.load(c_ptr + 3), tl.load(c_ptr + 4),
            tl.load(c_ptr + 5), tl.load(c_ptr + 6), tl.load(c_ptr + 7), tl.load(c_ptr + 8))


@triton.jit
def _store_sums(base, mask, zero, a0, a1, a2, a3, a4, a5, COUNT: tl.constexpr):
    """This program's sums of its first ``COUNT`` (5 or 6) per-neuron accumulators to ``base[0:COUNT]``."""
    tl.store(base + 0, tl.sum(tl.where(mask, a0, zero), axis=0))
    tl.store(base + 1, tl.sum(tl.where(mask, a1, zero), axis=0))
    tl.store(base + 2, tl.sum(tl.where(mask, a2, zero), axis=0))
    tl.store(base + 3, tl.sum(tl.where(mask, a3, zero), axis=0))
    tl.store(base + 4, tl.sum(tl.where(mask, a4, zero), axis=0))
    if COUNT > 5:
        tl.store(base + 5, tl.sum(tl.where(mask, a5, zero), axis=0))


@triton.jit
def _ld(ptr, mask, like):
    """Load as the compute dtype (that of ``like``: float32 for half-precision storage, else the input's own)."""
    return tl.load(ptr, mask=mask, other=0.0).to(like.dtype)


@triton.jit
def _st(ptr, value, mask):
    """Store in the buffer's own dtype (a float16/bfloat16 buffer gets the rounded float32 value)."""
    tl.store(ptr, value.to(ptr.dtype.element_ty), mask=mask)


@triton.jit
def lif_forward(x_ptr, v0_ptr, i0_ptr, c_ptr, out_ptr, vt_ptr, it_ptr, vseq_ptr, iseq_ptr, h_ptr, T, N,
                RESET: tl.constexpr, DELAYED: tl.constexpr, NO_LEAK: tl.constexpr, CUBA: tl.constexpr,
                RECORD: tl.constexpr, SAVE_H: tl.constexpr, BLOCK_N: tl.constexpr):
    pid = tl.program_id(0)
    offs = pid * BLOCK_N + tl.arange(0, BLOCK_N)
    mask = offs < N
    decay, leak, gain, vth, v_reset, syn_decay, gain_syn, _k1, _k2 = _constants9(c_ptr)
    v = _ld(v0_ptr + offs, mask, decay)
    if CUBA:
        cur = _ld(i0_ptr + offs, mask, decay)
    else:
        cur = tl.zeros_like(v)  # no synaptic current: i0 and it are not touched
    row = offs.to(tl.int64)  # advanced by N per step: 64-bit offsets, no T*N overflow
    for _ in range(T):
        inp = _ld(x_ptr + row, mask, decay)
        if CUBA:
            cur = syn_decay * cur + gain_syn * inp
            inp = cur
        h = _charge(v, inp, decay, leak, gain, vth, v_reset, RESET, DELAYED, NO_LEAK)
        if SAVE_H:
            _st(h_ptr + row, h, mask)
        fired = (h - vth) >= 0.0
        _st(out_ptr + row, fired.to(h.dtype), mask)
        v = _after(h, vth, v_reset, RESET, DELAYED)
        if RECORD:
            _st(vseq_ptr + row, v, mask)
            if CUBA:
                _st(iseq_ptr + row, cur, mask)
        row += N
    _st(vt_ptr + offs, v, mask)
    if CUBA:
        _st(it_ptr + offs, cur, mask)


@triton.jit
def lif_backward(x_ptr, v0_ptr, i0_ptr, c_ptr, gout_ptr, gvt_ptr, git_ptr, gx_ptr, gv0_ptr, gi0_ptr,
                 h_ptr, cur_ptr, partial_ptr, T, N,
                 RESET: tl.constexpr, DELAYED: tl.constexpr, DETACH: tl.constexpr, NO_LEAK: tl.constexpr,
                 CUBA: tl.constexpr, SURROGATE: tl.constexpr, HAVE_H: tl.constexpr, SCALAR_GRADS: tl.constexpr,
                 HAVE_GV: tl.constexpr, HAVE_GI: tl.constexpr, BLOCK_N: tl.constexpr):
    pid = tl.program_id(0)
    offs = pid * BLOCK_N + tl.arange(0, BLOCK_N)
    mask = offs < N
    decay, leak, gain, vth, v_reset, syn_decay, gain_syn, k1, k2 = _constants9(c_ptr)
    v0 = _ld(v0_ptr + offs, mask, decay)
    if CUBA:
        i0 = _ld(i0_ptr + offs, mask, decay)
    else:
        i0 = tl.zeros_like(v0)  # no synaptic current: i0, git and gi0 are not touched
    v = v0
    cur = i0
    row = offs.to(tl.int64)
    if HAVE_H:  # the forward kept the charged membrane
        row += N * T
    else:
        for _ in range(T):  # recompute the charged membrane (and the current) of this block
            inp = _ld(x_ptr + row, mask, decay)
            if CUBA:
                cur = syn_decay * cur + gain_syn * inp
                inp = cur
                _st(cur_ptr + row, cur, mask)
            h = _charge(v, inp, decay, leak, gain, vth, v_reset, RESET, DELAYED, NO_LEAK)
            _st(h_ptr + row, h, mask)
            v = _after(h, vth, v_reset, RESET, DELAYED)
            row += N
    if HAVE_GV:  # else the final membrane did not reach the loss: a zero gradient, not a zero-filled buffer
        gv = _ld(gvt_ptr + offs, mask, decay)
    else:
        gv = tl.zeros_like(v0)
    if CUBA and HAVE_GI:
        gi = _ld(git_ptr + offs, mask, decay)
    else:
        gi = tl.zeros_like(v0)
    zero = tl.zeros_like(gv)
    acc_decay = zero
    acc_leak = zero
    acc_gain = zero
    acc_vth = zero
    acc_sdecay = zero
    acc_gsyn = zero
    h_prev = _ld(h_ptr + row - N, mask, decay)  # step T-1's; each step's is read once, as the state of the next
    for k in range(T):
        t = T - 1 - k
        row -= N
        h = h_prev
        has_prev = row >= N  # t > 0 (for the neurons in range, whose offset is below N)
        h_prev = _ld(h_ptr + row - N, mask & has_prev, decay)
        state = tl.where(has_prev, _after(h_prev, vth, v_reset, RESET, DELAYED), v0)
        go = _ld(gout_ptr + row, mask, decay)
        if DELAYED:
            fired_prev = (state - vth) >= 0.0
        else:
            fired_prev = zero > 1.0  # never
        vdec = state
        if DELAYED and RESET == 0:
            vdec = tl.where(fired_prev, v_reset + zero, state)
        z = h - vth
        d = _surrogate(z, k1, k2, SURROGATE)
        if DELAYED:
            gh = go * d + gv
            g_th = -go * d
            if RESET == 1:
                g_th = tl.where(fired_prev, g_th - gh, g_th)
        else:
            dv_dh, dv_ds, dv_dth = _reset_grads(h, z >= 0.0, vth, v_reset, zero, RESET)
            gs = go
            if not DETACH:
                gs = go + gv * dv_ds
            gh = gs * d + gv * dv_dh
            g_th = -gs * d + gv * dv_dth
        if SCALAR_GRADS:
            if CUBA:
                inp = _ld(cur_ptr + row, mask, decay)
            else:
                inp = _ld(x_ptr + row, mask, decay)
            acc_vth += g_th
            acc_gain += gh * inp
            if not NO_LEAK:
                acc_decay += gh * vdec
                acc_leak += gh
        dh_dv = decay
        if NO_LEAK:
            dh_dv = 1.0 + 0.0 * decay
        if DELAYED and RESET == 0:
            gv = tl.where(fired_prev, zero, gh * dh_dv)
        else:
            gv = gh * dh_dv
        if CUBA:
            gcur = gh * gain + gi
            if SCALAR_GRADS:
                if t > 0:
                    prev_i = _ld(cur_ptr + row - N, mask, decay)
                else:
                    prev_i = i0
                acc_sdecay += gcur * prev_i
                acc_gsyn += gcur * _ld(x_ptr + row, mask, decay)
            _st(gx_ptr + row, gcur * gain_syn, mask)
            gi = gcur * syn_decay
        else:
            _st(gx_ptr + row, gh * gain, mask)
    _st(gv0_ptr + offs, gv, mask)
    if CUBA:
        _st(gi0_ptr + offs, gi, mask)
    if SCALAR_GRADS:
        _store_sums(partial_ptr + pid * 6, mask, zero, acc_decay, acc_leak, acc_gain, acc_vth, acc_sdecay, acc_gsyn, 6)


def grid(n: int) -> tuple[int]:
    return (triton.cdiv(n, BLOCK),)
