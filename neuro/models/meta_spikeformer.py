r"""Meta-SpikeFormer (Spike-driven Transformer V2; Yao et al., ICLR 2024), faithful to
``BICLab/Spike-Driven-Transformer-V2`` (``classification/models.py``, ``Spiking_vit_MetaFormer``).

With ``embed_dims = (C0, C1, C2, C3)`` and a 224×224 input (time-major ``(T, B, C, H, W)``):

=====  =========================================================  ============  ======  =====
stage  layers                                                     channels      stride  grid
=====  =========================================================  ============  ======  =====
1      7×7 conv (bias) + BN on the real-valued input, no LIF       in → C0/2     2       112
       ``depths[0]`` × MetaConvBlock                               C0/2                  112
       LIF → 3×3 conv (bias) + BN; ``depths[1]`` × MetaConvBlock   C0/2 → C0     2       56
2      LIF → 3×3 conv + BN; ``depths[2]`` × MetaConvBlock          C0 → C1       2       28
3      LIF → 3×3 conv + BN; ``depths[3]`` × MetaTransformerBlock   C1 → C2       2       14
4      LIF → 3×3 conv + BN; ``depths[4]`` × MetaTransformerBlock   C2 → C3       **1**   14
head   mean over tokens → LIF → Linear(C3, classes), per step
=====  =========================================================  ============  ======  =====

The official ``depths`` are ``(1, 1, 2, 6, 2)``. ``distillation`` adds a second head
``head_kd`` on the same spikes (DeiT-style hard distillation); in eval mode the two are averaged.

``head_on_spikes``: the paper's figure and the authors (issue ``BICLab/Spike-Driven-Transformer-V2#11``)
put a spiking neuron before the classifier, but the released code, which produced the published
accuracies, feeds the real-valued token mean to ``head`` (its ``x_lif`` reaches only ``head_kd``).
The default (``false``) reproduces the released code; ``true`` gives the head spikes (then every
dense layer after the stem is spike-driven). Parameter counts are the same either way.

Example:
    >>> import torch
    >>> cfg = MetaSpikeFormerConfig(embed_dims=(16, 32, 64, 80), depths=(1, 1, 1, 1, 1))
    >>> net = MetaSpikeFormer(cfg, in_channels=1, num_classes=10)
    >>> net(torch.rand(2, 3, 1, 32, 32)).shape
    torch.Size([2, 3, 10])
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import ClassVar, NamedTuple

from torch import Tensor, nn

from neuro.core.time_distributed import TimeDistributed
from neuro.errors import ConfigError, unknown_name
from neuro.layers.neuron_setting import NeuronSetting
from neuro.layers.reparam import ConvBN
from neuro.layers.spike_attention import check_image
from neuro.layers.spike_blocks import MetaConvBlock, MetaTransformerBlock
from neuro.models.pretrained import load_pretrained

__all__ = ["VARIANTS", "Downsample", "MetaSpikeFormer", "MetaSpikeFormerConfig", "MetaVariant",
           "build_meta_spikeformer", "build_variant"]


@dataclass(frozen=True)
class MetaSpikeFormerConfig:
    """Architecture of a :class:`MetaSpikeFormer` (TOML ``[model]``, ``name = "meta_spikeformer"``).

    ``variant`` names an entry of :data:`VARIANTS`; it cannot be combined with other architecture
    keys (``distillation``, ``head_on_spikes``, ``bn_eps``, ``neuron`` and ``pretrained`` may still be set).
    ``bn_eps`` is every BatchNorm's epsilon (official: torch's 1e-5). Small models are hard to train at that
    value: at initialisation the attention neurons of SDSA-V2 never fire, so the projection RepConv
    normalises an all-zero tensor through three BNs in series and back-propagates gradients multiplied by
    up to ``eps^-1.5``; a larger epsilon (1e-2) bounds that (see ``experiments/README.md``).
    ``pretrained`` is a run directory or checkpoint whose weights the model starts from
    (:func:`~neuro.models.pretrained.load_pretrained`; a missing ``head_kd`` keeps its fresh init).
    """

    embed_dims: tuple[int, int, int, int] = (128, 256, 512, 640)
    depths: tuple[int, int, int, int, int] = (1, 1, 2, 6, 2)
    num_heads: int = 8
    mlp_ratio: int = 4
    distillation: bool = False
    head_on_spikes: bool = False
    bn_eps: float = 1e-5
    neuron: NeuronSetting = field(default_factory=NeuronSetting)
    variant: str = ""
    pretrained: str = ""

    def __post_init__(self) -> None:
        if len(self.embed_dims) != 4 or any(c < 2 for c in self.embed_dims) or self.embed_dims[0] % 2:
            raise ConfigError(f"model.embed_dims must be 4 widths >= 2 with an even first one, got {self.embed_dims}")
        for c in self.embed_dims[2:]:
            if self.num_heads < 1 or c % self.num_heads:
                raise ConfigError(f"model.embed_dims {self.embed_dims[2:]} (attention stages) must be divisible "
                                  f"by model.num_heads {self.num_heads}")
        if len(self.depths) != 5 or any(d < 0 for d in self.depths):
            raise ConfigError(f"model.depths must be 5 non-negative block counts, got {self.depths}")
        if self.mlp_ratio < 1:
            raise ConfigError(f"model.mlp_ratio must be >= 1, got {self.mlp_ratio}")
        if not self.bn_eps > 0:
            raise ConfigError(f"model.bn_eps must be > 0, got {self.bn_eps}")


class MetaVariant(NamedTuple):
    """A named configuration with the data it was defined for and the paper's parameter label."""

    config: MetaSpikeFormerConfig
    input_shape: tuple[int, int, int]
    num_classes: int
    label: str


def _v(dims: tuple[int, int, int, int], label: str) -> MetaVariant:
    return MetaVariant(MetaSpikeFormerConfig(embed_dims=dims), (3, 224, 224), 1000, label)


#: Named ImageNet variants: the paper's 15.1M / 31.3M / 55.4M models and the code's unreported 8-768.
VARIANTS: dict[str, MetaVariant] = {
    "meta-15m": _v((64, 128, 256, 360), "15.1M"),  # spikformer_8_15M_CAFormer (third-party copies)
    "meta-31m": _v((96, 192, 384, 480), "31.3M"),  # metaspikformer_8_384
    "meta-55m": _v((128, 256, 512, 640), "55.4M"),  # metaspikformer_8_512
    "meta-8-768": _v((192, 384, 768, 960), ""),  # metaspikformer_8_768, not in the paper
}


class Downsample(nn.Module):
    """``[LIF ->] k×k conv (bias, stride s) + BN`` (official ``MS_DownSampling``).

    ``first=True`` omits the LIF: the first layer sees the real-valued input (pixels or frames).
    """

    is_sequence: ClassVar[bool] = True
    stateful: ClassVar[bool] = False

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 2,
                 first: bool = False, neuron: NeuronSetting | None = None) -> None:
        super().__init__()
        neuron = neuron or NeuronSetting()
        self.lif = None if first else neuron.lif()
        self.conv = TimeDistributed(ConvBN(nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride,
                                                     padding=kernel_size // 2, bias=True),
                                           nn.BatchNorm2d(out_channels)))

    def forward(self, x: Tensor) -> Tensor:
        check_image(x, type(self).__name__)
        if self.lif is not None:
            x, _ = self.lif(x)
        return self.conv(x)


class MetaSpikeFormer(nn.Module):
    """Meta-SpikeFormer: ``(T, B, C_in, H, W) -> (T, B, num_classes)`` per-step logits."""

    is_sequence: ClassVar[bool] = True
    stateful: ClassVar[bool] = False

    def __init__(self, config: MetaSpikeFormerConfig, in_channels: int = 3, num_classes: int = 1000) -> None:
        super().__init__()
        self.config = config
        c0, c1, c2, c3 = config.embed_dims
        d = config.depths
        n = config.neuron
        r = config.mlp_ratio

        def conv_blocks(dim: int, count: int) -> list[nn.Module]:
            return [MetaConvBlock(dim, r, n) for _ in range(count)]

        def attn_blocks(dim: int, count: int) -> list[nn.Module]:
            return [MetaTransformerBlock(dim, config.num_heads, r, n) for _ in range(count)]

        self.stages = nn.ModuleList([
            nn.Sequential(Downsample(in_channels, c0 // 2, 7, 2, first=True, neuron=n), *conv_blocks(c0 // 2, d[0]),
                          Downsample(c0 // 2, c0, neuron=n), *conv_blocks(c0, d[1])),
            nn.Sequential(Downsample(c0, c1, neuron=n), *conv_blocks(c1, d[2])),
            nn.Sequential(Downsample(c1, c2, neuron=n), *attn_blocks(c2, d[3])),
            nn.Sequential(Downsample(c2, c3, stride=1, neuron=n), *attn_blocks(c3, d[4])),
        ])
        self.head_lif = n.lif()
        self.head = nn.Linear(c3, num_classes)
        self.head_kd = nn.Linear(c3, num_classes) if config.distillation else None
        for m in self.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.eps = config.bn_eps
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """The official initialisation: Linear weights ~ truncated N(0, 0.02), biases 0; torch defaults elsewhere."""
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02, a=-2.0, b=2.0)
                nn.init.zeros_(m.bias)

    def forward_features(self, x: Tensor) -> Tensor:
        """The membrane stream after the last stage, ``(T, B, C3, H/16, W/16)``."""
        check_image(x, type(self).__name__)
        for stage in self.stages:
            x = stage(x)
        return x

    def forward_heads(self, x: Tensor) -> tuple[Tensor, Tensor | None]:
        """``(class head, distillation head or None)``, each ``(T, B, classes)``."""
        feat = self.forward_features(x).flatten(3).mean(3)  # (T, B, C3)
        spikes, _ = self.head_lif(feat)
        out = self.head(spikes if self.config.head_on_spikes else feat)
        return out, (self.head_kd(spikes) if self.head_kd is not None else None)

    def forward(self, x: Tensor) -> Tensor:
        out, out_kd = self.forward_heads(x)
        if out_kd is not None and not self.training:
            return (out + out_kd) / 2
        return out


def build_meta_spikeformer(cfg: MetaSpikeFormerConfig, input_shape: tuple[int, ...], num_classes: int
                           ) -> MetaSpikeFormer:
    """The :data:`~neuro.models.MODELS` builder: ``input_shape`` is one time step of one sample ``(C, H, W)``."""
    if len(input_shape) != 3:
        raise ConfigError(f"meta_spikeformer needs (C, H, W) input per time step, got {tuple(input_shape)}")
    if cfg.variant:
        if cfg.variant not in VARIANTS:
            raise unknown_name("meta_spikeformer variant", cfg.variant, VARIANTS)
        default = MetaSpikeFormerConfig()
        free = ("variant", "neuron", "distillation", "head_on_spikes", "pretrained", "bn_eps")
        clash = [f.name for f in fields(cfg) if f.name not in free and getattr(cfg, f.name) != getattr(default, f.name)]
        if clash:
            raise ConfigError(f"model.variant = {cfg.variant!r} fixes the architecture; remove model."
                              f"{', model.'.join(clash)} or drop the variant")
        cfg = replace(VARIANTS[cfg.variant].config, **{k: getattr(cfg, k) for k in free[1:]})
    model = MetaSpikeFormer(cfg, in_channels=input_shape[0], num_classes=num_classes)
    return load_pretrained(model, cfg.pretrained) if cfg.pretrained else model


def build_variant(name: str, num_classes: int | None = None, in_channels: int | None = None,
                  distillation: bool = False) -> MetaSpikeFormer:
    """Build a named variant (defaults: ImageNet's 3 channels and 1000 classes).

    Example:
        >>> net = build_variant("meta-15m")
        >>> round(sum(p.numel() for p in net.parameters()) / 1e6, 1)
        15.1
    """
    if name not in VARIANTS:
        raise unknown_name("meta_spikeformer variant", name, VARIANTS)
    v = VARIANTS[name]
    return MetaSpikeFormer(replace(v.config, distillation=distillation), in_channels=in_channels or v.input_shape[0],
                           num_classes=v.num_classes if num_classes is None else num_classes)
