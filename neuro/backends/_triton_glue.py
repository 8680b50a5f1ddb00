"""Autograd glue of the Triton LIF-family kernels (:mod:`neuro.backends._triton_lif`).

Saved for backward: the charged membrane of every step (float32 for float16/bfloat16 inputs, which
are computed in float32) and the initial state, plus the input when a scalar (threshold, time
constant) needs its gradient; CubaLIF saves the input and its backward
allocates ``(T, N)`` scratches for the recomputed membrane and synaptic current while it runs.

Nothing here waits for the GPU: the kernels' constants are a cached device vector (or, when one of
them is a tensor on the device, stacked there), never a host-to-device copy per call, so the host
keeps queueing work while the GPU runs.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import torch
from torch import Tensor

from neuro.backends import _triton_lif as tk
from neuro.backends._spec import (
    KernelSpec,
    compute_dtype,
    incoming,
    lif_scalars,
    run_sequence,
    scalar_grads,
    surrogate_constants,
)

__all__ = ["constants_vector", "run_lif_family"]


@functools.lru_cache(maxsize=512)
def _constant_vector(values: tuple[float, ...], dtype: torch.dtype, device: torch.device) -> Tensor:
    """One device copy per distinct set of constants (the kernels only read it)."""
    return torch.tensor(values, dtype=dtype, device=device)


def _constants(spec: KernelSpec, scalars: tuple[Tensor, ...], like: Tensor) -> Tensor:
    """``decay, leak, gain, v_threshold, v_reset, syn_decay, gain_syn, k1, k2`` on ``like``'s device and dtype."""
    decay, leak, gain, vth, syn_decay, gain_syn = scalars
    k1, k2 = surrogate_constants(spec.surrogate, spec.sg_a, spec.sg_b)
    return constants_vector((decay, leak, gain, vth, spec.consts["v_reset"], syn_decay, gain_syn, k1, k2),
                            like.device, like.dtype)


def constants_vector(values: tuple[Any, ...], device: torch.device, dtype: torch.dtype) -> Tensor:
    """A kernel's constants as one ``dtype`` vector on ``device``, without waiting for the device: host numbers
    give a cached vector; when some are tensors on the device (learnable ones) they are stacked there."""
    numbers = []
    for v in values:  # one pass, no generator: this runs on every call of a neuron
        if isinstance(v, Tensor):
            if v.device.type != "cpu":
                return _stacked(values, device, dtype)
            v = v.item()
        numbers.append(float(v))
    return _constant_vector(tuple(numbers), dtype, device)


def _number(v: Any) -> float:
    return float(v.detach()) if isinstance(v, Tensor) else float(v)


def _on_device(v: Any) -> bool:
    return isinstance(v, Tensor) and v.device.type != "cpu"


def _stacked(values: tuple[Any, ...], device: torch.device, dtype: torch.dtype) -> Tensor:
    """Tensors on the device stacked as they are, host numbers filled in (a fill, not a copy)."""
    return torch.stack([v.detach().reshape(()).to(dtype) if _on_device(v)
                        else torch.full((), _number(v), dtype=dtype, device=device) for v in values])


def _flags(spec: KernelSpec) -> dict[str, Any]:
    return {"RESET": spec.reset, "DELAYED": spec.delayed, "NO_LEAK": spec.consts.get("no_leak", 0.0) > 0,
            "CUBA": "syn_decay" in spec.scalars}


class _LIFSequence(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, spec: KernelSpec, record: bool, x: Tensor, v0: Tensor, i0: Tensor | None, *scalars: Tensor
                ) -> tuple[Tensor, ...]:
        i0 = v0 if i0 is None else i0  # no synaptic current: the kernels do not read i0 (or write i_out)
        cd = compute_dtype(x.dtype)
        c = _constants(spec, scalars, x.new_empty(0, dtype=cd))
        flags = _flags(spec)
        t_len, n = x.shape
        out, v_out = torch.empty_like(x), torch.empty_like(v0)
        i_out = torch.empty_like(i0) if flags["CUBA"] else v0.new_empty(1)
        v_seq = torch.empty_like(x) if record else x.new_empty(1)
        i_seq = torch.empty_like(x) if record and flags["CUBA"] else x.new_empty(1)
        scalar_grads_wanted = any(ctx.needs_input_grad[5:])
        save_h = any(ctx.needs_input_grad) and not flags["CUBA"]
        h = torch.empty_like(x, dtype=cd) if save_h else x.new_empty(1, dtype=cd)
        tk.lif_forward[tk.grid(n)](x, v0, i0, c, out, v_out, i_out, v_seq, i_seq, h, t_len, n, **flags,
                                   RECORD=record, SAVE_H=save_h, BLOCK_N=tk.BLOCK,
                                   num_warps=tk.NUM_WARPS, enable_fp_fusion=tk.FP_FUSION)
        ctx.spec, ctx.c, ctx.have_h, ctx.t_len = spec, c, save_h, t_len
        keep_x = not save_h or scalar_grads_wanted  # the recompute (CubaLIF) and the scalar gradients read x
        ctx.save_for_backward(x if keep_x else None, v0, i0, h if save_h else None)
        ctx.mark_non_differentiable(v_seq, i_seq)
        return out, v_out, i_out, v_seq, i_seq

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, g_out: Tensor | None, g_v: Tensor | None, g_i: Tensor | None, *_: Any):
        x, v0, i0, h = ctx.saved_tensors
        spec: KernelSpec = ctx.spec
        flags = _flags(spec)
        t_len, n = ctx.t_len, v0.numel()
        cd = ctx.c.dtype
        like = torch.empty((t_len, n), dtype=v0.dtype, device=v0.device) if g_out is None else g_out
        g_out = incoming(g_out, like)
        have_gv, have_gi = g_v is not None, g_i is not None and flags["CUBA"]
        g_v = g_v.contiguous() if have_gv else v0  # not read without HAVE_GV (HAVE_GI)
        g_i = g_i.contiguous() if have_gi else v0
        g_x, g_v0 = torch.empty_like(g_out, dtype=v0.dtype), torch.empty_like(v0)
        g_i0 = torch.empty_like(i0) if flags["CUBA"] else v0.new_empty(1)
        if h is None:
            h = torch.empty_like(g_out, dtype=cd)
        if x is None:
            x = v0.new_empty(1)  # neither the scalar gradients nor a recompute needs the input
        cur = torch.empty_like(g_out, dtype=cd) if flags["CUBA"] else v0.new_empty(1, dtype=cd)
        grid = tk.grid(n)
        need = ctx.needs_input_grad
        scalar_wanted = any(need[5:])
        partial = torch.zeros(grid[0], 6, dtype=cd, device=v0.device) if scalar_wanted else v0.new_empty(1, dtype=cd)
        tk.lif_backward[grid](x, v0, i0, ctx.c, g_out, g_v, g_i, g_x, g_v0, g_i0, h, cur, partial, t_len, n,
                              **flags, DETACH=spec.detach, SURROGATE=spec.surrogate, HAVE_H=ctx.have_h,
                              SCALAR_GRADS=scalar_wanted, HAVE_GV=have_gv, HAVE_GI=have_gi, BLOCK_N=tk.BLOCK,
                              num_warps=tk.NUM_WARPS, enable_fp_fusion=tk.FP_FUSION)
        g_scalars = scalar_grads(partial.sum(0), need[5:], cd) if scalar_wanted else (None,) * len(need[5:])
        return (None, None, g_x if need[2] else None, g_v0 if need[3] else None, g_i0 if need[4] else None,
                *g_scalars)


def run_lif_family(spec: KernelSpec, x: Tensor, state: NamedTuple, record: bool
                   ) -> tuple[Tensor, NamedTuple, NamedTuple | None]:
    """Run a LIF-family neuron described by ``spec`` over ``x`` ``(T, B, ...)`` on the Triton kernels."""
    scalars = lif_scalars(spec, x)
    return run_sequence(_LIFSequence.apply, spec, x, state, record, scalars)
