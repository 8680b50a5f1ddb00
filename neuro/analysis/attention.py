r"""Operation counts of spike-driven self-attention on binary ``q, k, v``.

Both functions take ``q, k, v`` of shape ``(..., N, D)`` (any leading dims: time, batch, heads; N
tokens, D channels per head) and return a :class:`~neuro.analysis.ops.CallOps` of kind
``"attention"`` (totals over every leading index, like any counter). A module implementing the
attention plugs into :func:`neuro.analysis.count_ops` with a method

    def count_ops(self, inputs, output, options):
        return sdsa_v1_ops(self.last_q, ...)   # or call it from a registered counter

(``inputs`` are the module's forward arguments.)

**V1, mask-and-add** (Spike-driven Transformer, NeurIPS 2023):
:math:`\mathrm{SDSA}(Q,K,V) = Q \otimes \mathrm{SN}(\mathrm{SUM}_c(K \otimes V))`.
Dense count ``2 N D`` per head and step (``N D`` for the Hadamard mask, ``N D`` for the sum over
tokens; PAPERS §5.2). Triggered: the mask is evaluated only where ``K`` spiked (``nnz(K)``) and the
sum accumulates only the surviving spikes (``nnz(K ⊙ V)``); masking ``Q`` by the spiking column is
a selection without arithmetic, uncounted as in §5.2.

**V2, linear attention on spikes** (Meta-SpikeFormer, ICLR 2024): ``q @ (k^T v) * scale``.
Dense count ``2 N D²`` MACs (``k^T v`` and ``q @ (.)``). Triggered: ``k^T v`` adds 1 for every
token where both ``k`` and ``v`` spike, :math:`\sum_n \mathrm{nnz}(k_n)\,\mathrm{nnz}(v_n)`; each spike
of ``q`` adds one row of the ``D x D`` matrix, ``nnz(q) D``. The scale is folded into the next
neuron's threshold and costs nothing.

Example:
    >>> import torch
    >>> q = k = v = torch.ones(1, 2, 3)                      # N = 2 tokens, D = 3
    >>> sdsa_v1_ops(q, k, v).macs, sdsa_v1_ops(q, k, v).synops
    (12.0, 12.0)
    >>> sdsa_v2_ops(q, k, v).macs, sdsa_v2_ops(q, k, v).synops
    (36.0, 36.0)
"""

from __future__ import annotations

import torch
from torch import Tensor

from neuro.analysis.counters import is_binary
from neuro.analysis.ops import CallOps, CountOptions
from neuro.errors import ShapeError

__all__ = ["sdsa_v1_ops", "sdsa_v2_ops"]


def _check(q: Tensor, k: Tensor, v: Tensor, name: str) -> tuple[Tensor, Tensor, Tensor, bool]:
    if q.dim() < 2 or q.shape != k.shape or q.shape != v.shape:
        raise ShapeError(f"{name}: q, k, v must share one shape (..., N, D), got {tuple(q.shape)}, "
                         f"{tuple(k.shape)}, {tuple(v.shape)}")
    q, k, v = q.detach(), k.detach(), v.detach()
    return q, k, v, is_binary(q) and is_binary(k) and is_binary(v)


def _common(q: Tensor, k: Tensor, v: Tensor, binary: bool, options: CountOptions) -> dict[str, float | bool]:
    elements = 3 * q.numel()
    events = sum(float(torch.count_nonzero(t)) for t in (q, k, v))
    return {"input_events": events, "input_elements": float(elements), "input_binary": binary,
            "act_read_bytes": elements * (1 if binary else options.act_bits) / 8}


def sdsa_v1_ops(q: Tensor, k: Tensor, v: Tensor, options: CountOptions | None = None) -> CallOps:
    """Counts of V1 mask-and-add attention ``Q ⊗ SN(SUM_tokens(K ⊗ V))``; see the module docstring."""
    options = options or CountOptions()
    q, k, v, binary = _check(q, k, v, "sdsa_v1_ops")
    nnz_k = float(torch.count_nonzero(k))
    nnz_kv = float(torch.count_nonzero(k * v))
    return CallOps("attention", macs=float(2 * q.numel()), synops=nnz_k + nnz_kv, outputs=float(q.numel()),
                   act_write_bytes=q.numel() / 8, **_common(q, k, v, binary, options))


def sdsa_v2_ops(q: Tensor, k: Tensor, v: Tensor, options: CountOptions | None = None) -> CallOps:
    """Counts of V2 linear attention ``q @ (k^T v) * scale`` on spikes; see the module docstring."""
    options = options or CountOptions()
    q, k, v, binary = _check(q, k, v, "sdsa_v2_ops")
    d = q.shape[-1]
    kv = float(((k != 0).sum(-1) * (v != 0).sum(-1)).sum())  # sum_n nnz(k_n) nnz(v_n)
    synops = kv + float(torch.count_nonzero(q)) * d
    outputs = q.numel()
    # the D x D matrix k^T v is written once and read by q's spikes: counted as activation traffic
    kv_bytes = q.numel() // q.shape[-2] * d * options.act_bits / 8
    common = _common(q, k, v, binary, options)
    common["act_read_bytes"] = float(common["act_read_bytes"]) + kv_bytes
    return CallOps("attention", macs=float(2 * q.numel() * d), synops=synops, outputs=float(outputs),
                   act_write_bytes=outputs * options.act_bits / 8 + kv_bytes, **common)
