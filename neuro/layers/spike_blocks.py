r"""Blocks of the spike-driven transformers, all on time-major ``(T, B, C, H, W)`` membrane inputs.

Every block uses *membrane shortcuts*: each branch starts with a LIF that turns the real-valued
residual stream into spikes, and its (real-valued) output is added back to the un-spiked stream,

.. math::

    x \leftarrow x + \mathrm{Attn}(x),\qquad x \leftarrow x + \mathrm{MLP}(x).

* :class:`SDTBlock` — V1 encoder block (official ``MS_Block_Conv``): SDSA-V1 + spiking MLP.
* :class:`MetaConvBlock` — V2 "Conv-based SNN block" (``MS_ConvBlock``): SepConv + 3×3 channel MLP.
* :class:`MetaTransformerBlock` — V2 "Transformer-based SNN block" (``MS_Block``): SDSA-V2 + MLP.

Stateless layers run once over all time steps (:class:`~neuro.core.time_distributed.TimeDistributed`);
neurons start from rest on every call (one sample = one fresh simulation).

Example:
    >>> import torch
    >>> block = MetaConvBlock(8)
    >>> block(torch.randn(2, 3, 8, 5, 5)).shape
    torch.Size([2, 3, 8, 5, 5])
"""

from __future__ import annotations

from typing import ClassVar

from torch import Tensor, nn

from neuro.core.time_distributed import TimeDistributed
from neuro.layers.neuron_setting import NeuronSetting
from neuro.layers.reparam import ConvBN, DepthwisePointwise
from neuro.layers.spike_attention import SpikeDrivenSelfAttention, SpikeDrivenSelfAttentionV2, check_image

__all__ = ["MetaConvBlock", "MetaTransformerBlock", "SDTBlock", "SepConv", "SpikingMLP"]


def _conv_bn(c_in: int, c_out: int, kernel: int = 1, bias: bool = False) -> TimeDistributed:
    return TimeDistributed(ConvBN(nn.Conv2d(c_in, c_out, kernel, padding=kernel // 2, bias=bias),
                                  nn.BatchNorm2d(c_out)))


class _Branch(nn.Module):
    is_sequence: ClassVar[bool] = True
    stateful: ClassVar[bool] = False


class SpikingMLP(_Branch):
    """``LIF -> 1×1 conv (bias) + BN -> LIF -> 1×1 conv (bias) + BN``; returns the branch output.

    ``hidden_residual`` reproduces V1's inner shortcut (official ``self.res``, active only when the
    hidden width equals the input width): the hidden membrane gets the input added, and the branch
    output includes the first layer's output.
    """

    def __init__(self, dim: int, hidden: int, neuron: NeuronSetting | None = None,
                 hidden_residual: bool = False) -> None:
        super().__init__()
        neuron = neuron or NeuronSetting()
        if hidden_residual and hidden != dim:
            raise ValueError(f"SpikingMLP: hidden_residual needs hidden == dim, got {hidden} != {dim}")
        self.fc1_lif = neuron.lif()
        self.fc1_conv = _conv_bn(dim, hidden, bias=True)
        self.fc2_lif = neuron.lif()
        self.fc2_conv = _conv_bn(hidden, dim, bias=True)
        self.hidden_residual = hidden_residual

    def forward(self, x: Tensor) -> Tensor:
        check_image(x, type(self).__name__)
        y1 = self.fc1_conv(self.fc1_lif(x)[0])
        hidden = x + y1 if self.hidden_residual else y1
        y2 = self.fc2_conv(self.fc2_lif(hidden)[0])
        return y1 + y2 if self.hidden_residual else y2


class SDTBlock(_Branch):
    """V1 encoder block: ``x + SDSA(x)``, then ``x + MLP(x)``; ``(T, B, dim, H, W)`` in and out."""

    def __init__(self, dim: int, num_heads: int = 8, mlp_ratio: float = 4.0, neuron: NeuronSetting | None = None,
                 dvs: bool = False) -> None:
        super().__init__()
        hidden = int(dim * mlp_ratio)
        self.attn = SpikeDrivenSelfAttention(dim, num_heads, neuron, dvs=dvs)
        self.mlp = SpikingMLP(dim, hidden, neuron, hidden_residual=hidden == dim)

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.attn(x)
        return x + self.mlp(x)


class SepConv(_Branch):
    """Inverted separable conv (MobileNetV2 style) with spikes before each dense layer.

    ``LIF -> 1×1 conv d→2d + BN -> LIF -> depthwise 7×7 -> 1×1 conv 2d→d + BN`` (no biases). The
    depthwise/pointwise pair has no neuron between them and can be merged
    (:class:`~neuro.layers.reparam.DepthwisePointwise`).
    """

    def __init__(self, dim: int, neuron: NeuronSetting | None = None, expansion: int = 2,
                 kernel_size: int = 7) -> None:
        super().__init__()
        neuron = neuron or NeuronSetting()
        mid = int(expansion * dim)
        self.lif1 = neuron.lif()
        self.pwconv1 = _conv_bn(dim, mid)
        self.lif2 = neuron.lif()
        self.dwpw = TimeDistributed(ConvBN(DepthwisePointwise(mid, dim, kernel_size), nn.BatchNorm2d(dim)))

    def forward(self, x: Tensor) -> Tensor:
        check_image(x, type(self).__name__)
        return self.dwpw(self.lif2(self.pwconv1(self.lif1(x)[0]))[0])


class MetaConvBlock(_Branch):
    """V2 Conv-based SNN block: ``x + SepConv(x)``, then ``x + BN(conv3×3(LIF(BN(conv3×3(LIF(x))))))``.

    The channel MLP's convs are 3×3, ``dim → mlp_ratio·dim → dim``, without bias.
    """

    def __init__(self, dim: int, mlp_ratio: int = 4, neuron: NeuronSetting | None = None) -> None:
        super().__init__()
        neuron = neuron or NeuronSetting()
        self.sepconv = SepConv(dim, neuron)
        self.lif1 = neuron.lif()
        self.conv1 = _conv_bn(dim, dim * mlp_ratio, kernel=3)
        self.lif2 = neuron.lif()
        self.conv2 = _conv_bn(dim * mlp_ratio, dim, kernel=3)

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.sepconv(x)
        return x + self.conv2(self.lif2(self.conv1(self.lif1(x)[0]))[0])


class MetaTransformerBlock(_Branch):
    """V2 Transformer-based SNN block: ``x + SDSA-V2(x)``, then ``x + MLP(x)``."""

    def __init__(self, dim: int, num_heads: int = 8, mlp_ratio: float = 4.0,
                 neuron: NeuronSetting | None = None) -> None:
        super().__init__()
        self.attn = SpikeDrivenSelfAttentionV2(dim, num_heads, neuron)
        self.mlp = SpikingMLP(dim, int(dim * mlp_ratio), neuron)

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.attn(x)
        return x + self.mlp(x)
