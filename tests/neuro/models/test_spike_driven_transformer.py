"""Spike-driven Transformer V1: parameter counts of every variant, shapes, spikes, gradients, folding."""

from __future__ import annotations

import time

import pytest
import torch
from torch import nn

from neuro.errors import ConfigError, ShapeError, UnknownNameError
from neuro.layers.reparam import ConvBN, reparameterize
from neuro.models import MODELS, build_model
from neuro.models.spike_driven_transformer import VARIANTS, SDTConfig, SpikeDrivenTransformer, build_variant
from tests.neuro.sdt_checks import assert_grads_flow, inputs_of, is_binary, recorded_spikes, single_thread


@pytest.fixture(autouse=True)
def _single_thread():
    with single_thread():
        yield


def v1_parameter_count(dim: int, depth: int, in_channels: int, classes: int, heads: int = 8, ratio: int = 4) -> int:
    """Closed form of the official layer list (``module/sps.py``, ``module/ms_conv.py``, ``model/spikeformer.py``).

    Trainable parameters only (BN running statistics are buffers); conv weights ``k·k·c_in·c_out``,
    BN ``2·c``; the unused ``talking_heads`` Conv1d (heads × heads) is included, as in the code.
    """
    widths = [in_channels, dim // 8, dim // 4, dim // 2, dim]
    sps = sum(9 * widths[i] * widths[i + 1] + 2 * widths[i + 1] for i in range(4))  # 3×3 convs (no bias) + BN
    rpe = 9 * dim * dim + 2 * dim
    qkv = 3 * (dim * dim + 2 * dim)  # 1×1 conv (no bias) + BN
    talking_heads = heads * heads
    proj = dim * dim + dim + 2 * dim  # 1×1 conv with bias + BN
    hidden = ratio * dim
    mlp = (dim * hidden + hidden + 2 * hidden) + (hidden * dim + dim + 2 * dim)
    head = dim * classes + classes
    return sps + rpe + depth * (qkv + talking_heads + proj + mlp) + head


#: Exact counts (trainable parameters) of every named variant, from the closed form above.
EXACT = {
    "sdt-8-384": 16_816_536,
    "sdt-6-512": 23_373_736,
    "sdt-8-512": 29_689_896,
    "sdt-10-512": 36_006_056,
    "sdt-8-768": 66_339_144,
    "sdt-2-512-cifar10": 10_233_546,
    "sdt-2-256-cifar10": 2_567_082,
    "sdt-2-256-gesture": 2_567_051,
    "sdt-2-256-cifar10dvs": 2_566_794,
}


def _count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def _tiny(**kw) -> SpikeDrivenTransformer:
    cfg = SDTConfig(**{"embed_dim": 32, "depth": 2, "num_heads": 4, "pooling": "0011", **kw})
    return SpikeDrivenTransformer(cfg, in_channels=2, num_classes=10)


def test_every_variant_is_listed():
    assert sorted(EXACT) == sorted(VARIANTS)


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_parameter_count_of_every_variant(name):
    v = VARIANTS[name]
    with torch.device("meta"):  # shapes only: no memory, no initialisation cost
        model = build_variant(name)
    cfg = v.config
    formula = v1_parameter_count(cfg.embed_dim, cfg.depth, v.input_shape[0], v.num_classes, cfg.num_heads)
    assert _count(model) == formula == EXACT[name]
    if v.label:
        assert f"{_count(model) / 1e6:.2f}M" == v.label


def test_sdt_8_768_matches_the_published_66_34m():
    assert VARIANTS["sdt-8-768"].label == "66.34M"
    assert round(EXACT["sdt-8-768"] / 1e6, 2) == 66.34


@pytest.mark.parametrize("steps", [1, 4])
def test_tiny_forward_shapes_per_stage(steps):
    model = _tiny().eval()
    shapes = {}
    model.patch_embed.register_forward_hook(lambda m, a, out: shapes.update(stem=out.shape))
    for i, block in enumerate(model.blocks):
        block.register_forward_hook(lambda m, a, out, i=i: shapes.update({f"block{i}": out.shape}))
    with torch.no_grad():
        out = model(torch.rand(steps, 3, 2, 32, 32))
    assert out.shape == (steps, 3, 10)
    assert shapes == {"stem": (steps, 3, 32, 8, 8), "block0": (steps, 3, 32, 8, 8), "block1": (steps, 3, 32, 8, 8)}


def test_native_imagenet_resolution_gives_196_tokens():
    # a narrow model with the ImageNet stem ("1111"): 224 -> 112 -> 56 -> 28 -> 14
    model = SpikeDrivenTransformer(SDTConfig(embed_dim=16, depth=1, num_heads=2, pooling="1111"), 3, 5).eval()
    with torch.no_grad():
        stem = model.patch_embed(torch.rand(1, 1, 3, 224, 224))
    assert stem.shape == (1, 1, 16, 14, 14) and stem.shape[-1] * stem.shape[-2] == 196


def test_spikes_are_binary_and_every_dense_layer_but_the_first_sees_spikes():
    model = _tiny()
    x = torch.rand(4, 2, 2, 32, 32) * 3
    for key, s in recorded_spikes(model, x).items():
        assert is_binary(s), f"{key} is not binary"
    seen = inputs_of(model, (ConvBN, nn.Linear), x)
    first, rest = seen[0], seen[1:]
    assert first[0] == "patch_embed.convs.0.module" and not is_binary(first[1])
    for name, inp in rest:
        assert is_binary(inp), f"{name} receives real values"


def test_gradients_reach_every_block():
    model = _tiny()
    out = model(torch.rand(2, 2, 2, 32, 32) * 3)
    # talking_heads is constructed but never used by the official forward pass
    assert_grads_flow(model, nn.functional.cross_entropy(out.mean(0), torch.tensor([1, 7])),
                      unused=("talking_heads.weight",))


def test_reparameterized_model_gives_the_same_outputs():
    model = _tiny(dvs=True).double()
    with torch.no_grad():
        for _ in range(3):  # populate BN running statistics
            model(torch.rand(2, 4, 2, 32, 32, dtype=torch.float64) * 3)
    x = torch.rand(4, 2, 2, 32, 32, dtype=torch.float64) * 3
    folded = reparameterize(model)
    assert not any(isinstance(m, nn.BatchNorm2d | ConvBN) for m in folded.modules())
    with torch.no_grad():
        torch.testing.assert_close(folded(x), model.eval()(x), rtol=0, atol=1e-9)


def test_models_registry_builds_from_a_table():
    assert "sdt" in MODELS
    net = build_model({"name": "sdt", "embed_dim": 32, "depth": 1, "num_heads": 4, "pooling": "0011"}, (2, 34, 34), 10)
    assert net(torch.rand(2, 1, 2, 34, 34)).shape == (2, 1, 10)
    net = build_model({"name": "sdt", "variant": "sdt-2-256-cifar10"}, (3, 32, 32), 100)
    assert _count(net) == v1_parameter_count(256, 2, 3, 100)


def test_config_errors_name_the_key():
    with pytest.raises(ConfigError, match=r"model\.pooling"):
        SDTConfig(pooling="111")
    with pytest.raises(ConfigError, match=r"model\.embed_dim"):
        SDTConfig(embed_dim=36, num_heads=8)
    with pytest.raises(ConfigError, match=r"model\.depth"):
        build_model({"name": "sdt", "variant": "sdt-8-768", "depth": 2}, (3, 224, 224), 1000)
    with pytest.raises(UnknownNameError, match="sdt-9-999"):
        build_model({"name": "sdt", "variant": "sdt-9-999"}, (3, 224, 224), 1000)
    with pytest.raises(ConfigError, match="smaller than the stem"):
        build_model({"name": "sdt", "embed_dim": 16, "depth": 1, "num_heads": 2}, (1, 8, 8), 10)
    with pytest.raises(ShapeError, match=r"\(T, B, C, H, W\)"):
        _tiny()(torch.rand(2, 2, 32, 32))


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_every_variant_runs_at_native_resolution(name):
    v = VARIANTS[name]
    model = build_variant(name).eval()
    for steps in (1, 4):
        start = time.perf_counter()
        with torch.no_grad():
            out = model(torch.rand(steps, 1, *v.input_shape))
        assert out.shape == (steps, 1, v.num_classes) and torch.isfinite(out).all()
        print(f"{name} T={steps} input {v.input_shape}: {time.perf_counter() - start:.2f} s")
