r"""Spike-driven Transformer (V1; Yao et al., NeurIPS 2023), faithful to ``BICLab/Spike-Driven-Transformer``.

Architecture (time-major throughout, ``(T, B, C, H, W)``):

* :class:`SpikingPatchSplitting` (official ``MS_SPS``): four 3×3 conv + BN stages,
  ``C_in → D/8 → D/4 → D/2 → D``, a LIF after each of the first three and an optional
  ``MaxPool(3, 2, 1)`` after each stage (``pooling``, one character per stage: ``"1111"`` on
  ImageNet gives 224 → 14, 196 tokens), then the relative-position conv: LIF → 3×3 conv → BN,
  added to the pre-LIF membrane (a membrane shortcut).
* ``depth`` × :class:`~neuro.layers.spike_blocks.SDTBlock` (SDSA-V1 + spiking MLP).
* Head: mean over tokens → LIF → ``Linear(D, classes)``, per time step. The model returns
  ``(T, B, classes)``; average over T for the prediction (or train with TET on the per-step outputs).

Named variants are in :data:`VARIANTS`; :func:`build_variant` builds one.

Example:
    >>> import torch
    >>> cfg = SDTConfig(embed_dim=32, depth=1, num_heads=4, pooling="0011")
    >>> net = SpikeDrivenTransformer(cfg, in_channels=1, num_classes=10)
    >>> net(torch.rand(2, 3, 1, 16, 16)).shape
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
from neuro.layers.spike_blocks import SDTBlock
from neuro.models.pretrained import load_pretrained

__all__ = ["VARIANTS", "SDTConfig", "SDTVariant", "SpikeDrivenTransformer", "SpikingPatchSplitting",
           "build_sdt", "build_variant"]


@dataclass(frozen=True)
class SDTConfig:
    """Architecture of a :class:`SpikeDrivenTransformer` (TOML table ``[model]``, ``name = "sdt"``).

    ``variant`` names an entry of :data:`VARIANTS`; it cannot be combined with other architecture keys.
    ``pretrained`` is a run directory or checkpoint whose weights the model starts from
    (:func:`~neuro.models.pretrained.load_pretrained`), e.g. the T = 1 stage of a T = 1 → T = 4 recipe.
    """

    embed_dim: int = 512
    depth: int = 8
    num_heads: int = 8
    mlp_ratio: float = 4.0
    pooling: str = "1111"
    dvs: bool = False
    neuron: NeuronSetting = field(default_factory=NeuronSetting)
    variant: str = ""
    pretrained: str = ""

    def __post_init__(self) -> None:
        if len(self.pooling) != 4 or set(self.pooling) - {"0", "1"}:
            raise ConfigError(f"model.pooling must be 4 characters of '0'/'1' (one per SPS stage), "
                              f"got {self.pooling!r}")
        if self.embed_dim < 8 or self.embed_dim % 8:
            raise ConfigError(f"model.embed_dim must be a positive multiple of 8 (SPS widths D/8..D), "
                              f"got {self.embed_dim}")
        if self.num_heads < 1 or self.embed_dim % self.num_heads:
            raise ConfigError(f"model.embed_dim {self.embed_dim} must be divisible by model.num_heads "
                              f"{self.num_heads}")
        if self.depth < 0 or not self.mlp_ratio > 0:
            raise ConfigError(f"model.depth must be >= 0 and model.mlp_ratio > 0, got {self.depth}, "
                              f"{self.mlp_ratio}")


class SDTVariant(NamedTuple):
    """A named configuration with the data it was defined for."""

    config: SDTConfig
    input_shape: tuple[int, int, int]
    num_classes: int
    label: str  # the paper's parameter label, "" if none is published


def _v(dim: int, depth: int, pooling: str, shape: tuple[int, int, int], classes: int, label: str = "",
       dvs: bool = False) -> SDTVariant:
    return SDTVariant(SDTConfig(embed_dim=dim, depth=depth, pooling=pooling, dvs=dvs), shape, classes, label)


_IMAGENET = (3, 224, 224)
#: Named variants of the official configs (``conf/**``): ImageNet ``sdt-<layers>-<dim>`` and the small ones.
VARIANTS: dict[str, SDTVariant] = {
    "sdt-8-384": _v(384, 8, "1111", _IMAGENET, 1000),
    "sdt-6-512": _v(512, 6, "1111", _IMAGENET, 1000),
    "sdt-8-512": _v(512, 8, "1111", _IMAGENET, 1000),
    "sdt-10-512": _v(512, 10, "1111", _IMAGENET, 1000),
    "sdt-8-768": _v(768, 8, "1111", _IMAGENET, 1000, "66.34M"),
    "sdt-2-512-cifar10": _v(512, 2, "0011", (3, 32, 32), 10),
    "sdt-2-256-cifar10": _v(256, 2, "0011", (3, 32, 32), 10),
    "sdt-2-256-gesture": _v(256, 2, "0111", (2, 128, 128), 11),
    "sdt-2-256-cifar10dvs": _v(256, 2, "0011", (2, 64, 64), 10, dvs=True),
}


def _conv_bn3(c_in: int, c_out: int) -> TimeDistributed:
    return TimeDistributed(ConvBN(nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out)))


class SpikingPatchSplitting(nn.Module):
    """V1 stem (official ``MS_SPS``): ``(T, B, C_in, H, W) -> (T, B, D, H / 2^p, W / 2^p)`` membranes.

    ``p`` is the number of ``"1"`` in ``pooling``. The output is real-valued (the membrane stream).
    """

    is_sequence: ClassVar[bool] = True
    stateful: ClassVar[bool] = False

    def __init__(self, in_channels: int, embed_dim: int, pooling: str = "1111",
                 neuron: NeuronSetting | None = None) -> None:
        super().__init__()
        neuron = neuron or NeuronSetting()
        widths = [in_channels, embed_dim // 8, embed_dim // 4, embed_dim // 2, embed_dim]
        self.pooling = pooling
        self.convs = nn.ModuleList(_conv_bn3(widths[i], widths[i + 1]) for i in range(4))
        self.lifs = nn.ModuleList(neuron.lif() for _ in range(4))  # the 4th feeds the RPE conv
        self.pool = TimeDistributed(nn.MaxPool2d(3, stride=2, padding=1))
        self.rpe_conv = _conv_bn3(embed_dim, embed_dim)

    def forward(self, x: Tensor) -> Tensor:
        check_image(x, type(self).__name__)
        for i in range(3):
            x, _ = self.lifs[i](self.convs[i](x))
            if self.pooling[i] == "1":
                x = self.pool(x)  # max-pooling of spikes stays binary
        x = self.convs[3](x)
        if self.pooling[3] == "1":
            x = self.pool(x)
        feat = x
        return feat + self.rpe_conv(self.lifs[3](x)[0])  # relative position embedding, membrane shortcut

    def extra_repr(self) -> str:
        return f"pooling={self.pooling!r}"


class SpikeDrivenTransformer(nn.Module):
    """V1 spike-driven transformer: ``(T, B, C_in, H, W) -> (T, B, num_classes)`` per-step logits."""

    is_sequence: ClassVar[bool] = True
    stateful: ClassVar[bool] = False

    def __init__(self, config: SDTConfig, in_channels: int = 3, num_classes: int = 1000) -> None:
        super().__init__()
        self.config = config
        self.patch_embed = SpikingPatchSplitting(in_channels, config.embed_dim, config.pooling, config.neuron)
        self.blocks = nn.ModuleList(SDTBlock(config.embed_dim, config.num_heads, config.mlp_ratio, config.neuron,
                                             dvs=config.dvs) for _ in range(config.depth))
        self.head_lif = config.neuron.lif()
        self.head = nn.Linear(config.embed_dim, num_classes)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """The official initialisation: conv weights ~ truncated N(0, 0.02), conv biases 0, BN (1, 0)."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.trunc_normal_(m.weight, std=0.02, a=-2.0, b=2.0)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        self.head.reset_parameters()

    def forward_features(self, x: Tensor) -> Tensor:
        """The membrane stream after the last block, ``(T, B, D, H', W')``."""
        x = self.patch_embed(x)
        for block in self.blocks:
            x = block(x)
        return x

    def forward(self, x: Tensor) -> Tensor:
        x = self.forward_features(x).flatten(3).mean(3)  # (T, B, D)
        return self.head(self.head_lif(x)[0])  # (T, B, classes)


def build_sdt(cfg: SDTConfig, input_shape: tuple[int, ...], num_classes: int) -> SpikeDrivenTransformer:
    """The :data:`~neuro.models.MODELS` builder: ``input_shape`` is one time step of one sample ``(C, H, W)``."""
    if len(input_shape) != 3:
        raise ConfigError(f"sdt needs (C, H, W) input per time step, got {tuple(input_shape)}")
    if cfg.variant:
        cfg = _variant_config(cfg)
    stride = 2 ** cfg.pooling.count("1")
    if input_shape[1] < stride or input_shape[2] < stride:
        raise ConfigError(f"sdt: input {tuple(input_shape)} is smaller than the stem's stride {stride} "
                          f"(pooling {cfg.pooling!r})")
    model = SpikeDrivenTransformer(cfg, in_channels=input_shape[0], num_classes=num_classes)
    return load_pretrained(model, cfg.pretrained) if cfg.pretrained else model


def _variant_config(cfg: SDTConfig) -> SDTConfig:
    if cfg.variant not in VARIANTS:
        raise unknown_name("sdt variant", cfg.variant, VARIANTS)
    default = SDTConfig()
    clash = [f.name for f in fields(cfg) if f.name not in ("variant", "neuron", "pretrained")
             and getattr(cfg, f.name) != getattr(default, f.name)]
    if clash:
        raise ConfigError(f"model.variant = {cfg.variant!r} fixes the architecture; remove model."
                          f"{', model.'.join(clash)} or drop the variant")
    return replace(VARIANTS[cfg.variant].config, neuron=cfg.neuron, pretrained=cfg.pretrained)


def build_variant(name: str, num_classes: int | None = None, in_channels: int | None = None
                  ) -> SpikeDrivenTransformer:
    """Build the named variant (defaults: the classes and input channels it was defined for).

    Example:
        >>> net = build_variant("sdt-2-256-cifar10")
        >>> sum(p.numel() for p in net.parameters())
        2567082
    """
    if name not in VARIANTS:
        raise unknown_name("sdt variant", name, VARIANTS)
    v = VARIANTS[name]
    return SpikeDrivenTransformer(v.config, in_channels=in_channels or v.input_shape[0],
                                  num_classes=v.num_classes if num_classes is None else num_classes)
