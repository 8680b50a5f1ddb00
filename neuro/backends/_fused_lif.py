"""Autograd glue of the fused CPU kernels for the LIF family (LIF, PLIF, IF, CubaLIF).

:func:`run_lif_family` is the backend operation: it flattens ``(T, B, ...)`` to ``(T, N)``, calls
:mod:`neuro.backends._numba_lif` through :class:`_LIFSequence` (whose backward recomputes the
membrane from the saved input instead of storing it) and reshapes back. Memory kept for backward:
the input and the initial state (references, no copies when contiguous), nothing per time step.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import torch
from torch import Tensor

from neuro.backends import _numba_lif as nk
from neuro.backends._buffers import empty_like
from neuro.backends._parallel import blocks, run_blocks
from neuro.backends._spec import KernelSpec, incoming, lif_scalars, run_sequence, scalar_grads, surrogate_constants

__all__ = ["backward", "constants", "forward", "run_lif_family"]


def _np(t: Tensor) -> np.ndarray:
    return t.detach().numpy()


def constants(spec: KernelSpec, scalars: tuple[Tensor, ...], dtype: torch.dtype) -> np.ndarray:
    decay, leak, gain, vth, syn_decay, gain_syn = (float(s) for s in scalars)
    return np.array([decay, leak, gain, vth, spec.consts["v_reset"], syn_decay, gain_syn],
                    dtype=np.float32 if dtype == torch.float32 else np.float64)


def _flags(spec: KernelSpec) -> tuple[int, bool, bool, bool]:
    """``(reset, delayed, no_leak, cuba)``."""
    return spec.reset, spec.delayed, spec.consts.get("no_leak", 0.0) > 0, "syn_decay" in spec.scalars


#: A per-channel scale and shift of the input (``alpha``, ``beta``, ``layout = (inner, channels)`` as int64): see
#: :func:`neuro.backends._numba_lif.block_affine`.
Affine = tuple[np.ndarray, np.ndarray, np.ndarray]


def _affine_args(affine: Affine | None, c: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if affine is not None:
        return affine
    return np.zeros(1, c.dtype), np.zeros(1, c.dtype), np.ones(2, np.int64)


def forward(spec: KernelSpec, c: np.ndarray, x: Tensor, v0: Tensor, i0: Tensor, record: bool = False,
            affine: Affine | None = None) -> tuple[Tensor, ...]:
    """Kernel call of the forward pass on ``(T, N)`` arrays: ``(spikes, v_T, i_T, v_seq, i_seq)``; with ``affine``
    the neuron's input is ``alpha[ch] * x + beta[ch]``."""
    reset, delayed, no_leak, cuba = _flags(spec)
    out, v_out, i_out = empty_like(x), empty_like(v0), empty_like(i0)
    v_seq = empty_like(x) if record else x.new_empty(1, 1)
    i_seq = empty_like(x) if record and cuba else x.new_empty(1, 1)
    kernel = nk.forward_kernel(reset, delayed, no_leak, cuba, record, affine is not None)
    run_blocks(kernel, x.shape[1], nk.BLOCK, _np(x), _np(v0), _np(i0), c, _np(out), _np(v_out), _np(i_out),
               _np(v_seq), _np(i_seq), *_affine_args(affine, c), work=x.numel())
    return out, v_out, i_out, v_seq, i_seq


def backward(spec: KernelSpec, c: np.ndarray, x: Tensor, v0: Tensor, i0: Tensor, g_out: Tensor | None,
             g_v: Tensor | None, g_i: Tensor | None, scalar_grads: bool, g_x: Tensor | None = None,
             want_g_v0: bool = True, pool: tuple[int, int, int] | None = None, pool_arg: Tensor | None = None,
             affine: Affine | None = None) -> tuple[Tensor, Tensor, Tensor, np.ndarray]:
    """Kernel calls of the backward pass: ``(g_x, g_v0, g_i0, scalar sums)`` (``g_v0`` empty unless
    ``want_g_v0``; a ``None`` gradient of the final state is zero, without a zero-filled buffer).

    Two passes through ``g_x``: the charged membrane of every step is recomputed into it, then the adjoint
    overwrites it with the gradient (CubaLIF also keeps its synaptic current in a ``(T, N)`` buffer). ``g_x``
    may be ``x`` itself, which saves a ``(T, N)`` buffer when the caller owns ``x`` (not with scalar
    gradients, which read ``x`` again). With ``pool = (k, h, w)``, ``g_out`` is the gradient of the spikes
    pooled over ``k x k`` windows of ``h x w`` planes (:mod:`neuro.backends._fused_lif_pool`): max-pooled, with
    ``pool_arg`` the position of each window's maximum, or average-pooled when ``pool_arg`` is ``None``. With
    ``affine`` the neuron's input was ``alpha[ch] * x + beta[ch]`` and ``g_x`` is the gradient of that input (not
    of ``x``); scalar gradients then need the input itself and are not supported.
    """
    if affine is not None and scalar_grads:
        raise ValueError("backward: scalar gradients with an affine input are not supported")
    block = nk.BLOCK
    if pool is None:
        g_out = incoming(g_out, x)
    else:
        k, h, w = pool
        block = nk.plane_block(h, w) * h * w  # whole planes per block, as in the forward pass
        pooled = (x.shape[0], x.shape[1] // (h * w) * (h // k) * (w // k))
        g_out = x.new_zeros(pooled) if g_out is None else g_out.contiguous()
    g_v = v0.new_empty(0) if g_v is None else g_v.contiguous()
    g_i = incoming(g_i, i0)
    g_x = empty_like(x) if g_x is None else g_x
    g_v0, g_i0 = empty_like(v0) if want_g_v0 else v0.new_empty(0), empty_like(i0)
    reset, delayed, no_leak, cuba = _flags(spec)
    if scalar_grads and g_x is x:
        g_x = empty_like(x)  # the scalar gradients read x after h is written
    i_seq = empty_like(x) if cuba else x.new_empty(1, 1)
    surrogate = nk.kernel_surrogate(spec.surrogate, c.dtype)
    pre_d = surrogate in TORCH_SURROGATES
    z = empty_like(x) if pre_d else x.new_empty(1, 1)
    run_blocks(nk.charge_kernel(reset, delayed, no_leak, cuba, surrogate if pre_d else 0, affine is not None),
               x.shape[1], nk.BLOCK, _np(x), _np(v0), _np(i0), c, _np(g_x), _np(i_seq), c.dtype.type(spec.sg_a),
               _np(z), *_affine_args(affine, c), work=x.numel())
    if surrogate == 1:  # the transcendental part, vectorised by torch, in place
        z.sigmoid_()
    elif pre_d:
        z.exp_()
    dd = _np(z)
    sg = np.array(surrogate_constants(spec.surrogate, spec.sg_a, spec.sg_b), dtype=c.dtype)
    partial = np.zeros((blocks(x.shape[1], block), 6), dtype=np.float64)
    kernel = nk.adjoint_kernel(reset, delayed, spec.detach, no_leak, cuba, surrogate, pre_d, scalar_grads,
                               0 if pool is None else 1 if pool_arg is not None else 2)
    shape = np.array(pool or (1, 1, 1), dtype=np.int64)
    arg = np.zeros((1, 1), dtype=np.uint8) if pool_arg is None else pool_arg.numpy()
    run_blocks(kernel, x.shape[1], block, _np(g_x), _np(x), _np(v0), _np(i0), _np(i_seq), c, sg, dd, _np(g_out),
               _np(g_v), _np(g_i), _np(g_v0), _np(g_i0), partial, arg, shape, work=x.numel())
    return g_x, g_v0, g_i0, partial.sum(axis=0)


#: Surrogates whose derivative needs ``exp``: its transcendental part is computed over the whole sequence by
#: torch (vectorised, in place on the argument the charge kernel writes), not element by element in the kernel,
#: where numba calls a scalar ``exp`` (except the float32 Sigmoid: :func:`~neuro.backends._numba_lif.exp32`).
TORCH_SURROGATES = (1, 5)


class _LIFSequence(torch.autograd.Function):
    """``(spikes, v_T, i_T, v_seq, i_seq)``; the sequences are filled only when ``record`` (never differentiable)."""

    @staticmethod
    def forward(ctx: Any, spec: KernelSpec, record: bool, x: Tensor, v0: Tensor, i0: Tensor | None, *scalars: Tensor
                ) -> tuple[Tensor, ...]:
        i0 = x.new_zeros(1) if i0 is None else i0  # no synaptic current: the kernels do not read it
        c = constants(spec, scalars, x.dtype)
        out, v_out, i_out, v_seq, i_seq = forward(spec, c, x, v0, i0, record)
        ctx.spec, ctx.c = spec, c
        ctx.save_for_backward(x, v0, i0)
        ctx.mark_non_differentiable(v_seq, i_seq)
        return out, v_out, i_out, v_seq, i_seq

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, g_out: Tensor | None, g_v: Tensor | None, g_i: Tensor | None, *_: Any):
        x, v0, i0 = ctx.saved_tensors
        need = ctx.needs_input_grad
        g_x, g_v0, g_i0, sums = backward(ctx.spec, ctx.c, x, v0, i0, g_out, g_v, g_i, any(need[5:]),
                                         want_g_v0=need[3])
        g_scalars = scalar_grads(sums, need[5:], x.dtype)
        return (None, None, g_x if need[2] else None, g_v0 if need[3] else None, g_i0 if need[4] else None,
                *g_scalars)


def run_lif_family(spec: KernelSpec, x: Tensor, state: NamedTuple, record: bool
                   ) -> tuple[Tensor, NamedTuple, NamedTuple | None]:
    """Run a LIF-family neuron described by ``spec`` over ``x`` ``(T, B, ...)`` on the fused kernels."""
    return run_sequence(_LIFSequence.apply, spec, x, state, record, lif_scalars(spec, x))
