r"""Spike-driven self-attention (SDSA) of the spike-driven transformers.

Two attention operators, each a module whose inputs are the binary spike tensors ``q, k, v`` of
shape ``(T, B, heads, N, d)`` (N tokens, d channels per head), so op counters can hook them:

* :class:`MaskAddAttention` (V1, NeurIPS 2023): mask-and-add only, no softmax and no product of two
  real-valued tensors,

  .. math::

      \mathrm{SDSA}(Q, K, V) = Q \otimes \mathrm{SN}_{0.5}\Big(\textstyle\sum_{n} (K \otimes V)_n\Big)

  where :math:`\otimes` is the Hadamard product of binary tensors (a mask), the column sum over
  tokens is an addition, and :math:`\mathrm{SN}_{0.5}` is a LIF of threshold 0.5;
* :class:`LinearSpikeAttention` (V2, Meta-SpikeFormer): :math:`Q\,(K^\top V)\cdot s` with
  :math:`s = 0.125`, evaluated right to left so the cost is linear in N; with binary K and V,
  :math:`K^\top V` holds integer coincidence counts.

Both count themselves for :func:`neuro.analysis.count_ops` (their ``count_ops`` method hands the binary
``q, k, v`` to :func:`~neuro.analysis.sdsa_v1_ops` / :func:`~neuro.analysis.sdsa_v2_ops`), so energy
estimates count attention as accumulates on spikes, as the papers do.

Around them, :class:`SpikeDrivenSelfAttention` (V1) and :class:`SpikeDrivenSelfAttentionV2` (V2)
build Q, K, V from the (membrane-potential) input with conv + BN + LIF and project the result back;
both return the attention *branch*, which the blocks add to the residual stream.

Example:
    >>> import torch
    >>> attn = SpikeDrivenSelfAttention(dim=16, num_heads=4)
    >>> attn(torch.randn(2, 3, 16, 4, 4)).shape           # (T, B, C, H, W)
    torch.Size([2, 3, 16, 4, 4])
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch.nn.functional as F
from torch import Tensor, nn

from neuro.analysis.attention import sdsa_v1_ops, sdsa_v2_ops
from neuro.analysis.ops import CallOps, CountOptions
from neuro.core.time_distributed import TimeDistributed
from neuro.errors import ShapeError
from neuro.layers.neuron_setting import NeuronSetting
from neuro.layers.reparam import ConvBN, RepConv

__all__ = [
    "Erode",
    "LinearSpikeAttention",
    "MaskAddAttention",
    "SpikeDrivenSelfAttention",
    "SpikeDrivenSelfAttentionV2",
    "check_image",
    "merge_heads",
    "split_heads",
]


def check_image(x: Tensor, where: str) -> tuple[int, int, int, int, int]:
    """``(T, B, C, H, W)`` of a time-major image batch; :class:`ShapeError` naming ``where`` otherwise."""
    if x.dim() != 5:
        raise ShapeError(f"{where}: expected a time-major image batch (T, B, C, H, W), got shape {tuple(x.shape)}")
    return tuple(x.shape)  # type: ignore[return-value]


def split_heads(x: Tensor, num_heads: int) -> Tensor:
    """``(T, B, C, H, W) -> (T, B, heads, N, C // heads)``; channel ``c = head * d + j``."""
    t, b, c, h, w = x.shape
    return x.flatten(3).transpose(-1, -2).reshape(t, b, h * w, num_heads, c // num_heads).permute(0, 1, 3, 2, 4)


def merge_heads(x: Tensor, height: int, width: int) -> Tensor:
    """Inverse of :func:`split_heads`: ``(T, B, heads, N, d) -> (T, B, heads * d, H, W)``."""
    t, b, heads, _, d = x.shape
    return x.transpose(3, 4).reshape(t, b, heads * d, height, width)


class Erode(nn.Module):
    """3×3 max-pooling (stride 1, padding 1) over the last two axes of any tensor.

    V1's DVS mode applies it to K, V (over H, W) and, inside the attention, to ``K ⊗ V`` and the
    output (over tokens × channels-per-head, exactly as the official ``MaxPool3d((1, 3, 3))`` does on
    ``(T, B, heads, N, d)``). Max of binary values stays binary.
    """

    def forward(self, x: Tensor) -> Tensor:
        lead = x.shape[:-2]
        return F.max_pool2d(x.reshape(-1, 1, *x.shape[-2:]), 3, stride=1, padding=1).reshape(*lead, *x.shape[-2:])


class MaskAddAttention(nn.Module):
    """SDSA-V1 operator: ``q ⊗ LIF_0.5(Σ_tokens k ⊗ v)``; inputs and output binary ``(T, B, heads, N, d)``.

    Args:
        neuron: neuron setting; the inner LIF uses its ``attn_threshold`` (the official
            ``talking_heads_lif``).
        erode: DVS mode: :class:`Erode` on ``k ⊗ v`` and on the output.
    """

    form: ClassVar[str] = "mask_add"

    def __init__(self, neuron: NeuronSetting | None = None, erode: bool = False) -> None:
        super().__init__()
        neuron = neuron or NeuronSetting()
        self.lif = neuron.attn_lif()
        self.erode = Erode() if erode else None

    def forward(self, q: Tensor, k: Tensor, v: Tensor) -> Tensor:
        kv = k * v  # mask: both binary  (T, B, heads, N, d)
        if self.erode is not None:
            kv = self.erode(kv)
        kv, _ = self.lif(kv.sum(dim=-2, keepdim=True))  # column sums -> binary  (T, B, heads, 1, d)
        out = q * kv  # mask: both binary  (T, B, heads, N, d)
        return out if self.erode is None else self.erode(out)

    def count_ops(self, inputs: tuple[Any, ...], output: Any, options: CountOptions) -> CallOps:
        """Mask-and-add counts of this call (the inner LIF is counted as a neuron on its own)."""
        return sdsa_v1_ops(*inputs[:3], options)


class LinearSpikeAttention(nn.Module):
    """SDSA-V2 operator: ``(q @ (kᵀ @ v)) * scale`` on binary ``(T, B, heads, N, d)`` inputs (no neuron)."""

    form: ClassVar[str] = "linear"

    def __init__(self, scale: float = 0.125) -> None:
        super().__init__()
        self.scale = float(scale)

    def forward(self, q: Tensor, k: Tensor, v: Tensor) -> Tensor:
        kv = k.transpose(-2, -1) @ v  # integer coincidence counts  (T, B, heads, d, d)
        return (q @ kv) * self.scale  # (T, B, heads, N, d)

    def count_ops(self, inputs: tuple[Any, ...], output: Any, options: CountOptions) -> CallOps:
        """``q @ (kᵀ v)`` counts of this call: accumulates triggered by the spikes of q, k and v."""
        return sdsa_v2_ops(*inputs[:3], options)

    def extra_repr(self) -> str:
        return f"scale={self.scale:g}"


def _check_heads(cls: str, dim: int, num_heads: int) -> None:
    if num_heads < 1 or dim % num_heads:
        raise ValueError(f"{cls}: dim {dim} must be divisible by num_heads {num_heads}")


class SpikeDrivenSelfAttention(nn.Module):
    """The V1 attention branch (official ``MS_SSA_Conv``), input and output ``(T, B, C, H, W)``.

    ``LIF -> {q, k, v}: 1×1 conv + BN + LIF -> MaskAddAttention -> 1×1 conv (bias) + BN``.
    ``talking_heads`` (a heads×heads Conv1d) is built but never used, as in the official code; it is
    kept only so the parameter total matches the published one.
    """

    is_sequence: ClassVar[bool] = True
    stateful: ClassVar[bool] = False

    def __init__(self, dim: int, num_heads: int = 8, neuron: NeuronSetting | None = None, dvs: bool = False) -> None:
        super().__init__()
        _check_heads("SpikeDrivenSelfAttention", dim, num_heads)
        neuron = neuron or NeuronSetting()
        self.num_heads = num_heads
        self.shortcut_lif = neuron.lif()
        self.q_conv = TimeDistributed(ConvBN(nn.Conv2d(dim, dim, 1, bias=False), nn.BatchNorm2d(dim)))
        self.k_conv = TimeDistributed(ConvBN(nn.Conv2d(dim, dim, 1, bias=False), nn.BatchNorm2d(dim)))
        self.v_conv = TimeDistributed(ConvBN(nn.Conv2d(dim, dim, 1, bias=False), nn.BatchNorm2d(dim)))
        self.q_lif, self.k_lif, self.v_lif = neuron.lif(), neuron.lif(), neuron.lif()
        self.erode = Erode() if dvs else None
        self.attention = MaskAddAttention(neuron, erode=dvs)
        self.talking_heads = nn.Conv1d(num_heads, num_heads, 1, bias=False)  # unused (parameter parity)
        self.proj_conv = TimeDistributed(ConvBN(nn.Conv2d(dim, dim, 1, bias=True), nn.BatchNorm2d(dim)))

    def forward(self, x: Tensor) -> Tensor:
        _, _, _, h, w = check_image(x, type(self).__name__)
        s, _ = self.shortcut_lif(x)
        q, _ = self.q_lif(self.q_conv(s))
        k, _ = self.k_lif(self.k_conv(s))
        v, _ = self.v_lif(self.v_conv(s))
        if self.erode is not None:
            k, v = self.erode(k), self.erode(v)
        out = self.attention(split_heads(q, self.num_heads), split_heads(k, self.num_heads),
                             split_heads(v, self.num_heads))
        return self.proj_conv(merge_heads(out, h, w))

    def extra_repr(self) -> str:
        return f"num_heads={self.num_heads}, dvs={self.erode is not None}"


class SpikeDrivenSelfAttentionV2(nn.Module):
    """The V2 attention branch (official ``MS_Attention_RepConv_qkv_id``), ``(T, B, C, H, W)`` in and out.

    ``LIF -> {q, k, v}: RepConv + BN + LIF -> LinearSpikeAttention -> LIF_0.5 -> RepConv + BN``.
    """

    is_sequence: ClassVar[bool] = True
    stateful: ClassVar[bool] = False

    def __init__(self, dim: int, num_heads: int = 8, neuron: NeuronSetting | None = None,
                 scale: float = 0.125) -> None:
        super().__init__()
        _check_heads("SpikeDrivenSelfAttentionV2", dim, num_heads)
        neuron = neuron or NeuronSetting()
        self.num_heads = num_heads
        self.head_lif = neuron.lif()
        self.q_conv = TimeDistributed(ConvBN(RepConv(dim, dim), nn.BatchNorm2d(dim)))
        self.k_conv = TimeDistributed(ConvBN(RepConv(dim, dim), nn.BatchNorm2d(dim)))
        self.v_conv = TimeDistributed(ConvBN(RepConv(dim, dim), nn.BatchNorm2d(dim)))
        self.q_lif, self.k_lif, self.v_lif = neuron.lif(), neuron.lif(), neuron.lif()
        self.attention = LinearSpikeAttention(scale)
        self.attn_lif = neuron.attn_lif()
        self.proj_conv = TimeDistributed(ConvBN(RepConv(dim, dim), nn.BatchNorm2d(dim)))

    def forward(self, x: Tensor) -> Tensor:
        _, _, _, h, w = check_image(x, type(self).__name__)
        s, _ = self.head_lif(x)
        q, _ = self.q_lif(self.q_conv(s))
        k, _ = self.k_lif(self.k_conv(s))
        v, _ = self.v_lif(self.v_conv(s))
        out = self.attention(split_heads(q, self.num_heads), split_heads(k, self.num_heads),
                             split_heads(v, self.num_heads))
        out, _ = self.attn_lif(merge_heads(out, h, w))
        return self.proj_conv(out)

    def extra_repr(self) -> str:
        return f"num_heads={self.num_heads}"
