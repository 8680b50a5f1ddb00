"""Triton kernels and autograd glue of the adaptive LIF neuron (:func:`~neuro.neurons.alif.alif_step`).

Same layout and strategy as :mod:`neuro.backends._triton_lif`: one program per block of neurons of a
time-major ``(T, N)`` input, time loop inside, options as ``tl.constexpr``. ``h = decay * v + leak +
gain * x``, ``theta = v_threshold + beta_adapt * a``, ``a' = adapt_decay * a + s``; ``c`` holds
``decay, leak, gain, v_threshold, adapt_decay, v_reset, beta_adapt, k1, k2`` in the compute dtype
(float32 for float16/bfloat16 inputs). When a gradient will be needed the forward keeps, per step,
the charged membrane ``h`` and the adaptation ``a`` entering the step (both in the compute dtype); the
backward walks time backwards over them. Importing this module requires ``triton``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
import triton
import triton.language as tl
from torch import Tensor

from neuro.backends import _triton_lif as tk
from neuro.backends._spec import KernelSpec, SequenceLayout, compute_dtype, incoming, scalar_grads
from neuro.backends._triton_glue import constants_vector
from neuro.backends._triton_lif import _after, _constants9, _ld, _reset_grads, _st, _store_sums, _surrogate

__all__ = ["alif_backward", "alif_forward", "run_alif"]

_SCALARS = ("decay", "leak", "gain", "v_threshold", "adapt_decay")


@triton.jit
def alif_forward(x_ptr, v0_ptr, a0_ptr, c_ptr, out_ptr, vt_ptr, at_ptr, vseq_ptr, aseq_ptr, h_ptr, ain_ptr, T, N,
                 RESET: tl.constexpr, RECORD: tl.constexpr, SAVE: tl.constexpr, BLOCK_N: tl.constexpr):
    pid = tl.program_id(0)
    offs = pid * BLOCK_N + tl.arange(0, BLOCK_N)
    mask = offs < N
    decay, leak, gain, vth, adecay, v_reset, beta, _k1, _k2 = _constants9(c_ptr)
    v = _ld(v0_ptr + offs, mask, decay)
    a = _ld(a0_ptr + offs, mask, decay)
    row = offs.to(tl.int64)
    for _ in range(T):
        inp = _ld(x_ptr + row, mask, decay)
        h = decay * v + leak + gain * inp
        theta = vth + beta * a
        if SAVE:
            _st(h_ptr + row, h, mask)
            _st(ain_ptr + row, a, mask)
        s = ((h - theta) >= 0.0).to(h.dtype)
        _st(out_ptr + row, s, mask)
        v = _after(h, theta, v_reset, RESET, False)
        a = adecay * a + s
        if RECORD:
            _st(vseq_ptr + row, v, mask)
            _st(aseq_ptr + row, a, mask)
        row += N
    _st(vt_ptr + offs, v, mask)
    _st(at_ptr + offs, a, mask)


@triton.jit
def alif_backward(x_ptr, v0_ptr, c_ptr, gout_ptr, gvt_ptr, gat_ptr, gx_ptr, gv0_ptr, ga0_ptr, h_ptr, ain_ptr,
                  partial_ptr, T, N, RESET: tl.constexpr, DETACH: tl.constexpr, SURROGATE: tl.constexpr,
                  SCALAR_GRADS: tl.constexpr, BLOCK_N: tl.constexpr):
    pid = tl.program_id(0)
    offs = pid * BLOCK_N + tl.arange(0, BLOCK_N)
    mask = offs < N
    decay, _leak, gain, vth, adecay, v_reset, beta, k1, k2 = _constants9(c_ptr)
    gv = _ld(gvt_ptr + offs, mask, decay)
    ga = _ld(gat_ptr + offs, mask, decay)
    zero = tl.zeros_like(gv)
    acc_decay = zero
    acc_leak = zero
    acc_gain = zero
    acc_vth = zero
    acc_adecay = zero
    row = offs.to(tl.int64) + N * T
    for k in range(T):
        t = T - 1 - k
        row -= N
        h = _ld(h_ptr + row, mask, decay)
        a = _ld(ain_ptr + row, mask, decay)
        theta = vth + beta * a
        z = h - theta
        d = _surrogate(z, k1, k2, SURROGATE)
        dv_dh, dv_ds, dv_dth = _reset_grads(h, z >= 0.0, theta, v_reset, zero, RESET)
        gs = _ld(gout_ptr + row, mask, decay) + ga  # the spike feeds the output and the adaptation
        if not DETACH:
            gs = gs + gv * dv_ds
        gz = gs * d
        gh = gz + gv * dv_dh
        g_th = -gz + gv * dv_dth
        if SCALAR_GRADS:
            if t > 0:
                h_prev = _ld(h_ptr + row - N, mask, decay)
                theta_prev = vth + beta * _ld(ain_ptr + row - N, mask, decay)
                v_in = _after(h_prev, theta_prev, v_reset, RESET, False)
            else:
                v_in = _ld(v0_ptr + offs, mask, decay)
            acc_decay += gh * v_in
            acc_leak += gh
            acc_gain += gh * _ld(x_ptr + row, mask, decay)
            acc_vth += g_th
            acc_adecay += ga * a
        _st(gx_ptr + row, gh * gain, mask)
        gv = gh * decay
        ga = ga * adecay + g_th * beta
    _st(gv0_ptr + offs, gv, mask)
    _st(ga0_ptr + offs, ga, mask)
    if SCALAR_GRADS:
        _store_sums(partial_ptr + pid * 5, mask, zero, acc_decay, acc_leak, acc_gain, acc_vth, acc_adecay, zero, 5)


def _constants(spec: KernelSpec, scalars: tuple[Tensor, ...], device: torch.device, dtype: torch.dtype) -> Tensor:
    from neuro.backends._spec import surrogate_constants

    k1, k2 = surrogate_constants(spec.surrogate, spec.sg_a, spec.sg_b)
    values = (*scalars[:5], spec.consts["v_reset"], spec.consts["beta_adapt"], k1, k2)
    return constants_vector(values, device, dtype)


class _ALIFSequence(torch.autograd.Function):
    """``(spikes, v_T, a_T, v_seq, a_seq)``; the sequences are filled only when ``record`` (never differentiable)."""

    @staticmethod
    def forward(ctx: Any, spec: KernelSpec, record: bool, x: Tensor, v0: Tensor, a0: Tensor, *scalars: Tensor
                ) -> tuple[Tensor, ...]:
        cd = compute_dtype(x.dtype)
        c = _constants(spec, scalars, x.device, cd)
        t_len, n = x.shape
        out, v_out, a_out = torch.empty_like(x), torch.empty_like(v0), torch.empty_like(a0)
        v_seq = torch.empty_like(x) if record else x.new_empty(1)
        a_seq = torch.empty_like(x) if record else x.new_empty(1)
        save = any(ctx.needs_input_grad)
        h = torch.empty_like(x, dtype=cd) if save else x.new_empty(1, dtype=cd)
        a_in = torch.empty_like(x, dtype=cd) if save else x.new_empty(1, dtype=cd)
        alif_forward[tk.grid(n)](x, v0, a0, c, out, v_out, a_out, v_seq, a_seq, h, a_in, t_len, n, RESET=spec.reset,
                                 RECORD=record, SAVE=save, BLOCK_N=tk.BLOCK, num_warps=tk.NUM_WARPS,
                                 enable_fp_fusion=tk.FP_FUSION)
        ctx.spec, ctx.c, ctx.t_len = spec, c, t_len
        ctx.save_for_backward(x if any(ctx.needs_input_grad[5:]) else None, v0, a0, h, a_in)
        ctx.mark_non_differentiable(v_seq, a_seq)
        return out, v_out, a_out, v_seq, a_seq

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, g_out: Tensor | None, g_v: Tensor | None, g_a: Tensor | None, *_: Any):
        x, v0, a0, h, a_in = ctx.saved_tensors
        spec: KernelSpec = ctx.spec
        cd = ctx.c.dtype
        t_len, n = ctx.t_len, v0.numel()
        like = torch.empty((t_len, n), dtype=v0.dtype, device=v0.device) if g_out is None else g_out
        g_out, g_v, g_a = incoming(g_out, like), incoming(g_v, v0), incoming(g_a, a0)
        g_x, g_v0, g_a0 = torch.empty_like(g_out, dtype=v0.dtype), torch.empty_like(v0), torch.empty_like(a0)
        need = ctx.needs_input_grad
        scalar_wanted = any(need[5:])
        grid = tk.grid(n)
        partial = torch.zeros(grid[0], 5, dtype=cd, device=v0.device) if scalar_wanted else v0.new_empty(1, dtype=cd)
        alif_backward[grid](x if x is not None else v0.new_empty(1), v0, ctx.c, g_out, g_v, g_a, g_x, g_v0, g_a0, h,
                            a_in, partial, t_len, n, RESET=spec.reset, DETACH=spec.detach, SURROGATE=spec.surrogate,
                            SCALAR_GRADS=scalar_wanted, BLOCK_N=tk.BLOCK, num_warps=tk.NUM_WARPS,
                            enable_fp_fusion=tk.FP_FUSION)
        g_scalars = scalar_grads(partial.sum(0), need[5:], cd) if scalar_wanted else (None,) * len(need[5:])
        return (None, None, g_x if need[2] else None, g_v0 if need[3] else None, g_a0 if need[4] else None,
                *g_scalars)


def run_alif(spec: KernelSpec, x: Tensor, state: NamedTuple, record: bool
             ) -> tuple[Tensor, NamedTuple, NamedTuple | None]:
    """Run the adaptive LIF neuron over ``x`` ``(T, B, ...)`` on the Triton kernels."""
    layout = SequenceLayout.of(x)
    scalars = tuple(s.to(x.device) if s.requires_grad else s for s in (spec.scalars[k] for k in _SCALARS))
    out, v_out, a_out, v_seq, a_seq = _ALIFSequence.apply(spec, record, layout.flat(x), layout.flat_state(state.v),
                                                          layout.flat_state(state.a), *scalars)
    seqs = type(state)(layout.unflat(v_seq), layout.unflat(a_seq)) if record else None
    return layout.unflat(out), type(state)(layout.unflat_state(v_out), layout.unflat_state(a_out)), seqs
