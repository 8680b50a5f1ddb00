"""Batch normalisation and a LIF-family neuron as one autograd operation (``batch_norm_neuron``).

``neuron(batch_norm(z))`` on the numba kernels of :mod:`neuro.backends._numba_lif`: the normalisation is a
per-channel scale and shift, ``y = alpha * z + beta`` with ``alpha = gamma / sqrt(var + eps)`` and ``beta = b -
mean * alpha``, which the neuron's kernels apply to their input as they read it (``affine``). The normalised
tensor ``y`` is never written: the forward pass reads ``z`` twice for the batch statistics and once in the
neuron's kernel; the backward pass recomputes the membrane from ``z`` and the saved statistics,
runs the neuron's adjoint, which yields ``dL/dy``, then batch norm's backward: torch's own
(``native_batch_norm_backward``) below the buffer pool's 32 MiB, and from there on one pass for its per-channel
sums (float64) and one writing ``dL/dz`` over ``dL/dy`` in place (:mod:`neuro.backends._numba_norm`), as torch's
fresh result of that size would be faulted in afresh every step (torch's is the faster one on smaller tensors;
``experiments/norm_neuron.py`` times the pair on W5's shapes). Memory kept for backward: ``z`` (which a separate
batch norm keeps too), the initial state and the per-channel statistics; a separate neuron would also keep ``y``.

The running statistics are updated as ``nn.BatchNorm*`` does (by the caller, :func:`run_bn_neuron`); in eval mode
(or without batch statistics) the running ones normalise. The batch statistics come from
:mod:`neuro.backends._numba_norm` (float64 sums). Values equal the two modules in sequence up to float rounding of
the folded scale and shift (``alpha * z + beta`` against torch's ``(z - mean) * invstd * gamma + b``), so a spike
can differ only where the membrane meets the threshold within that rounding.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import torch
from torch import Tensor, nn

from neuro.backends import _buffers
from neuro.backends import _fused_lif as lif
from neuro.backends import _numba_norm as nn_
from neuro.backends._parallel import blocks, run_blocks
from neuro.backends._spec import KernelSpec, lif_scalars

__all__ = ["run_bn_neuron"]


class _BNNeuronSequence(torch.autograd.Function):
    """``(spikes (T, N), v_T, i_T)`` of ``z`` ``(T, N)`` whose neuron ``n`` is in channel ``(n // inner) % C``."""

    @staticmethod
    def forward(ctx: Any, spec: KernelSpec, layout: tuple[int, int], train: bool, eps: float, z: Tensor, v0: Tensor,
                i0: Tensor | None, weight: Tensor | None, bias: Tensor | None, mean: Tensor, invstd: Tensor
                ) -> tuple[Tensor, Tensor, Tensor]:
        i0 = z.new_zeros(1) if i0 is None else i0  # no synaptic current: the kernels do not read it
        c = lif.constants(spec, lif_scalars(spec, z), z.dtype)
        alpha = invstd if weight is None else weight.detach() * invstd
        beta = -mean * alpha if bias is None else bias.detach() - mean * alpha
        affine = (alpha.contiguous().numpy(), beta.contiguous().numpy(), np.array(layout, dtype=np.int64))
        out, v_out, i_out, _, _ = lif.forward(spec, c, z, v0, i0, affine=affine)
        ctx.spec, ctx.c, ctx.affine, ctx.layout, ctx.train, ctx.eps = spec, c, affine, layout, train, eps
        ctx.save_for_backward(z, v0, i0, weight, mean, invstd)
        ctx.set_materialize_grads(False)  # an output that does not reach the loss: None, not a zero-filled tensor
        return out, v_out, i_out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, g_out: Tensor | None, g_v: Tensor | None, g_i: Tensor | None):
        z, v0, i0, weight, mean, invstd = ctx.saved_tensors
        need = ctx.needs_input_grad
        g_y, g_v0, g_i0, _ = lif.backward(ctx.spec, ctx.c, z, v0, i0, g_out, g_v, g_i, False, want_g_v0=need[5],
                                          affine=ctx.affine)
        inner, channels = ctx.layout
        g_z = g_w = g_b = None
        if need[4] or need[7] or need[8]:
            if ctx.train and g_y.numel() * g_y.element_size() < _buffers.MIN_BYTES:
                shape = (-1, channels) if inner == 1 else (-1, channels, inner)  # batch norm's own view
                g_z, g_w, g_b = torch.ops.aten.native_batch_norm_backward(
                    g_y.view(shape), z.view(shape), weight, None, None, mean, invstd, True, ctx.eps,
                    [need[4], need[7] and weight is not None, need[8]])
            elif ctx.train:  # in place of g_y: a fresh tensor this large would be faulted in afresh
                g_z, g_w, g_b = _train_backward(g_y.view(-1, channels, inner), z.view(-1, channels, inner), weight,
                                                mean, invstd)
                g_z, g_w, g_b = (g if n else None for g, n in zip((g_z, g_w, g_b), (need[4], need[7], need[8]),
                                                                   strict=True))
            else:  # running statistics: y = alpha * z + beta elementwise
                g3 = g_y.view(-1, channels, inner)
                zhat = (z.view(-1, channels, inner) - mean.view(1, -1, 1)) * invstd.view(1, -1, 1)
                g_b = g3.sum(dim=(0, 2)) if need[8] else None
                g_w = (g3 * zhat).sum(dim=(0, 2)) if need[7] and weight is not None else None
                alpha = invstd if weight is None else weight * invstd
                g_z = g3 * alpha.view(1, -1, 1) if need[4] else None
            g_z = None if g_z is None else g_z.reshape(z.shape)
        return (None, None, None, None, g_z, g_v0 if need[5] else None, g_i0 if need[6] else None,
                g_w, g_b, None, None)


def _train_backward(g3: Tensor, z3: Tensor, weight: Tensor | None, mean: Tensor, invstd: Tensor
                    ) -> tuple[Tensor, Tensor | None, Tensor]:
    """Batch norm's backward with batch statistics, ``(dL/dz, dL/dgamma, dL/dbeta)``, from ``g3 = dL/dy``
    ``(N, C, L)``: one pass for the per-channel sums (float64), one computing ``dL/dz`` in place of ``g3`` (a
    buffer of the neuron's backward, so no fresh tensor): ``dz = alpha (dy - mean(dy) - (z - mu) invstd^2
    mean(dy (z - mu)))``, ``alpha = gamma invstd``."""
    rows, channels, length = z3.shape
    count = rows * length
    g_np, z_np = g3.reshape(rows, -1).numpy(), z3.reshape(rows, -1).numpy()
    mean64 = mean.double().numpy()
    invstd64 = invstd.double().numpy()
    partial = np.empty((blocks(rows, nn_.ROWS), 2, channels))
    run_blocks(nn_.paired_sums, rows, nn_.ROWS, g_np, z_np, length, np.zeros(channels), mean64, partial,
               work=z3.numel())
    sums = partial.sum(axis=0)  # (2, C): sum dy, sum dy (z - mu)
    g_b = torch.from_numpy(sums[0]).to(g3.dtype)
    g_w = None if weight is None else torch.from_numpy(sums[1] * invstd64).to(g3.dtype)
    alpha = invstd64 if weight is None else weight.detach().double().numpy() * invstd64
    dtype = g_np.dtype
    run_blocks(nn_.grad_input, rows, nn_.ROWS, g_np, z_np, length, mean64.astype(dtype), alpha.astype(dtype),
               (sums[0] / count).astype(dtype), (invstd64 * invstd64 * sums[1] / count).astype(dtype),
               work=z3.numel())
    return g3, g_w, g_b


def _statistics(norm: nn.modules.batchnorm._BatchNorm, z3: Tensor) -> tuple[bool, Tensor, Tensor]:
    """``(batch statistics?, mean, invstd)`` of ``z3`` ``(N, C, L)`` as ``norm`` normalises it, updating its running
    statistics as ``nn.BatchNorm*`` does in training."""
    train = norm.training or norm.running_mean is None
    eps = norm.eps
    if not train:
        return False, norm.running_mean.detach(), torch.rsqrt(norm.running_var.detach() + eps)
    if norm.training and z3.shape[0] * z3.shape[2] == 1:  # as torch's batch norm refuses it
        raise ValueError(f"Expected more than 1 value per channel when training, got input size "
                         f"{(1, z3.shape[1])} (BatchNormNeuron)")
    with torch.no_grad():
        mean64, var64 = _var_mean(z3.detach().numpy())
        mean, var = torch.from_numpy(mean64).to(z3.dtype), torch.from_numpy(var64).to(z3.dtype)
        if norm.training and norm.track_running_stats and norm.running_mean is not None:
            norm.num_batches_tracked.add_(1)
            momentum = (1.0 / float(norm.num_batches_tracked) if norm.momentum is None else norm.momentum)
            count = z3.numel() // z3.shape[1]
            norm.running_mean.mul_(1 - momentum).add_(mean, alpha=momentum)
            norm.running_var.mul_(1 - momentum).add_(var * (count / max(count - 1, 1)), alpha=momentum)
        return True, mean, torch.from_numpy(1.0 / np.sqrt(var64 + eps)).to(z3.dtype)


def _var_mean(z3: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and biased variance (float64) of an ``(N, C, L)`` array, over ``N`` and ``L``: one parallel
    pass of sums of deviations from the first sample of each channel and of their squares
    (:func:`neuro.backends._numba_norm.paired_sums`)."""
    rows, channels, length = z3.shape
    count = rows * length
    z2 = z3.reshape(rows, -1)
    shift = z3[0, :, 0].astype(np.float64) if z3.size else np.zeros(channels)
    partial = np.zeros((max(1, blocks(rows, nn_.ROWS)), 2, channels))
    run_blocks(nn_.paired_sums, rows, nn_.ROWS, z2, z2, length, shift, shift, partial, work=z3.size)
    moments = partial.sum(axis=0) / max(1, count)
    return shift + moments[0], np.maximum(moments[1] - moments[0] * moments[0], 0.0)


def run_bn_neuron(spec: KernelSpec, norm: nn.modules.batchnorm._BatchNorm, z: Tensor, inner: int, state: NamedTuple
                  ) -> tuple[Tensor, NamedTuple]:
    """``neuron(norm(z))`` fused: ``z`` ``(T, B, ...)`` holds ``norm``'s channels at stride ``inner`` (``inner`` 1:
    the last dimension; ``H * W`` for ``(T, B, C, H, W)``); returns the spikes and the neuron's final state."""
    t_len = z.shape[0]
    channels = norm.num_features
    z2 = z.reshape(t_len, -1)
    train, mean, invstd = _statistics(norm, z2.view(-1, channels, inner))
    v0 = state.v.reshape(-1).to(z.dtype).contiguous()
    cuba = "syn_decay" in spec.scalars
    i0 = state.i.reshape(-1).to(z.dtype).contiguous() if cuba else None
    out, v_out, i_out = _BNNeuronSequence.apply(spec, (inner, channels), train, norm.eps, z2, v0, i0, norm.weight,
                                                norm.bias, mean, invstd)
    shape = z.shape[1:]
    fields = (v_out.view(shape),) + ((i_out.view(shape),) if cuba else ())
    return out.view(z.shape), type(state)(*fields)
