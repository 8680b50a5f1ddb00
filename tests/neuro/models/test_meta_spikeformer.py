"""Meta-SpikeFormer (V2): parameter counts of every variant, stage shapes, spikes, gradients, folding."""

from __future__ import annotations

import time

import pytest
import torch
from torch import nn

from neuro.errors import ConfigError, UnknownNameError
from neuro.layers.reparam import BNAndPad, ConvBN, DepthwisePointwise, RepConv, reparameterize
from neuro.layers.spike_attention import LinearSpikeAttention
from neuro.models import MODELS, build_model
from neuro.models.meta_spikeformer import VARIANTS, MetaSpikeFormer, MetaSpikeFormerConfig, build_variant
from tests.neuro.sdt_checks import assert_grads_flow, inputs_of, is_binary, recorded_spikes, single_thread


@pytest.fixture(autouse=True)
def _single_thread():
    with single_thread():
        yield


def v2_parameter_count(dims: tuple[int, int, int, int], in_channels: int = 3, classes: int = 1000,
                       depths: tuple[int, ...] = (1, 1, 2, 6, 2), ratio: int = 4) -> int:
    """Closed form of the official ``classification/models.py`` layer list, under PAPERS §1.6's rule.

    Trainable parameters only (no BN running statistics), ``head_kd`` left out.
    """
    def down(c_in: int, c_out: int, k: int = 3) -> int:  # conv with bias + BN
        return k * k * c_in * c_out + c_out + 2 * c_out

    def conv_block(d: int) -> int:
        sepconv = (d * 2 * d + 2 * 2 * d) + 49 * 2 * d + (2 * d * d + 2 * d)  # pw1+BN, dw 7×7, pw2+BN
        channel_mlp = (9 * d * ratio * d + 2 * ratio * d) + (9 * ratio * d * d + 2 * d)  # 3×3 convs, no bias
        return sepconv + channel_mlp

    def rep_conv_bn(d: int) -> int:  # RepConv (1×1, BNAndPad, dw 3×3, 1×1, BN) + the outer BN
        return d * d + 2 * d + 9 * d + d * d + 2 * d + 2 * d

    def attn_block(d: int) -> int:
        mlp = (d * ratio * d + ratio * d + 2 * ratio * d) + (ratio * d * d + d + 2 * d)
        return 4 * rep_conv_bn(d) + mlp

    c0, c1, c2, c3 = dims
    return (down(in_channels, c0 // 2, 7) + depths[0] * conv_block(c0 // 2) + down(c0 // 2, c0)
            + depths[1] * conv_block(c0) + down(c0, c1) + depths[2] * conv_block(c1)
            + down(c1, c2) + depths[3] * attn_block(c2) + down(c2, c3) + depths[4] * attn_block(c3)
            + c3 * classes + classes)


EXACT = {"meta-15m": 15_112_208, "meta-31m": 31_333_864, "meta-55m": 55_350_248, "meta-8-768": 123_741_160}
TINY = MetaSpikeFormerConfig(embed_dims=(8, 16, 16, 24), depths=(1, 1, 1, 1, 1), num_heads=4, head_on_spikes=True)


def _count(model: nn.Module, skip: str = "head_kd") -> int:
    return sum(p.numel() for n, p in model.named_parameters() if p.requires_grad and not n.startswith(skip))


def _lively(model: MetaSpikeFormer) -> MetaSpikeFormer:
    """Raise Q/K/V firing (BN shift 1.5) so the attention neurons fire at random initialisation."""
    with torch.no_grad():
        for m in model.modules():
            if hasattr(m, "q_conv") and hasattr(m, "attention"):
                for conv in (m.q_conv, m.k_conv, m.v_conv):
                    conv.module.bn.bias.fill_(1.5)
    return model


def test_every_variant_is_listed():
    assert sorted(EXACT) == sorted(VARIANTS)


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_parameter_count_of_every_variant(name):
    v = VARIANTS[name]
    with torch.device("meta"):
        model = build_variant(name, distillation=True)
    assert _count(model) == v2_parameter_count(v.config.embed_dims) == EXACT[name]
    assert _count(model, skip="~") - _count(model) == (v.config.embed_dims[3] + 1) * 1000  # head_kd
    if v.label:
        assert f"{EXACT[name] / 1e6:.1f}M" == v.label


def test_paper_labels():
    assert {n: v.label for n, v in VARIANTS.items() if v.label} == {
        "meta-15m": "15.1M", "meta-31m": "31.3M", "meta-55m": "55.4M"}


@pytest.mark.parametrize("steps", [1, 4])
def test_stage_grids_at_native_resolution(steps):
    # a narrow model at 224×224: 112 -> 56 -> 28 -> 14 -> 14 (the last downsample has stride 1)
    model = MetaSpikeFormer(TINY, in_channels=3, num_classes=7).eval()
    grids = []
    for stage in model.stages:
        stage.register_forward_hook(lambda m, a, out: grids.append(tuple(out.shape)))
    first = []
    model.stages[0][0].register_forward_hook(lambda m, a, out: first.append(tuple(out.shape)))
    with torch.no_grad():
        out = model(torch.rand(steps, 1, 3, 224, 224))
    assert out.shape == (steps, 1, 7)
    assert first == [(steps, 1, 4, 112, 112)]
    assert grids == [(steps, 1, 8, 56, 56), (steps, 1, 16, 28, 28), (steps, 1, 16, 14, 14), (steps, 1, 24, 14, 14)]


def test_spikes_binary_and_dense_layers_see_spikes():
    model = _lively(MetaSpikeFormer(TINY, in_channels=2, num_classes=10))
    x = torch.rand(3, 2, 2, 32, 32) * 3
    spikes = recorded_spikes(model, x)
    for key, s in spikes.items():
        assert is_binary(s), f"{key} is not binary"
    assert not [k for k, s in spikes.items() if s.sum() == 0], "a neuron never fired"
    seen = inputs_of(model, (ConvBN, nn.Linear), x)
    assert seen[0][0] == "stages.0.0.conv.module" and not is_binary(seen[0][1])  # pixels / frames
    for name, inp in seen[1:]:
        assert is_binary(inp), f"{name} receives real values"
    qkv = inputs_of(model, (LinearSpikeAttention,), x)
    assert len(qkv) == 2 and all(is_binary(inp) for _, inp in qkv)


def test_released_head_reads_the_real_valued_mean_by_default():
    cfg = MetaSpikeFormerConfig(embed_dims=(8, 16, 16, 24), depths=(1, 1, 1, 1, 1), num_heads=4)
    assert cfg.head_on_spikes is False
    model = MetaSpikeFormer(cfg, in_channels=2, num_classes=10)
    ((_, head_input),) = inputs_of(model, (nn.Linear,), torch.rand(2, 1, 2, 16, 16))
    assert not is_binary(head_input)


def test_gradients_reach_every_block():
    model = _lively(MetaSpikeFormer(TINY, in_channels=2, num_classes=10))
    out = model(torch.rand(2, 2, 2, 32, 32) * 3)
    assert_grads_flow(model, nn.functional.cross_entropy(out.mean(0), torch.tensor([3, 9])))


def test_distillation_head():
    cfg = MetaSpikeFormerConfig(embed_dims=(8, 16, 16, 24), depths=(1, 1, 1, 1, 1), num_heads=4, distillation=True)
    model = MetaSpikeFormer(cfg, in_channels=2, num_classes=10).eval()
    x = torch.rand(2, 3, 2, 16, 16)
    with torch.no_grad():
        cls, kd = model.forward_heads(x)
        torch.testing.assert_close(model(x), (cls + kd) / 2)
        model.train()
        torch.testing.assert_close(model(x), model.forward_heads(x)[0])


def test_reparameterized_model_gives_the_same_outputs():
    model = _lively(MetaSpikeFormer(TINY, in_channels=2, num_classes=10)).double()
    with torch.no_grad():
        for _ in range(3):
            model(torch.rand(2, 4, 2, 16, 16, dtype=torch.float64) * 3)
    x = torch.rand(2, 2, 2, 16, 16, dtype=torch.float64) * 3
    reference = model.eval()(x)
    for merge in (False, True):
        folded = reparameterize(model, merge_separable=merge)
        left = {type(m) for m in folded.modules()} & {ConvBN, RepConv, BNAndPad, nn.BatchNorm2d, DepthwisePointwise}
        assert not left
        with torch.no_grad():
            torch.testing.assert_close(folded(x), reference, rtol=0, atol=1e-9)
    # RepConv + BN became one 3×3 conv per Q/K/V/projection
    attn = reparameterize(model).stages[2][1].attn
    assert isinstance(attn.q_conv.module, nn.Conv2d) and attn.q_conv.module.kernel_size == (3, 3)


def test_models_registry_and_config_errors():
    assert "meta_spikeformer" in MODELS
    table = {"name": "meta_spikeformer", "embed_dims": [8, 16, 16, 24], "depths": [1, 1, 1, 1, 1], "num_heads": 4}
    assert build_model(table, (2, 34, 34), 10)(torch.rand(1, 2, 2, 34, 34)).shape == (1, 2, 10)
    with torch.device("meta"):
        net = build_model({"name": "meta_spikeformer", "variant": "meta-15m", "distillation": True},
                          (3, 224, 224), 1000)
    assert _count(net) == EXACT["meta-15m"] and net.head_kd is not None
    with pytest.raises(ConfigError, match=r"model\.embed_dims"):
        build_model({"name": "meta_spikeformer", "variant": "meta-55m", "embed_dims": [8, 16, 16, 24]}, (3, 8, 8), 2)
    with pytest.raises(UnknownNameError, match="meta-1m"):
        build_model({"name": "meta_spikeformer", "variant": "meta-1m"}, (3, 8, 8), 2)
    with pytest.raises(ConfigError, match="num_heads"):
        MetaSpikeFormerConfig(embed_dims=(8, 16, 20, 24), num_heads=8)
    with pytest.raises(ConfigError, match=r"model\.depths"):
        build_model({"name": "meta_spikeformer", "depths": [1, 1, 1]}, (3, 8, 8), 2)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_every_variant_runs_at_224(name):
    model = build_variant(name).eval()
    for steps in (1, 4):
        start = time.perf_counter()
        with torch.no_grad():
            out = model(torch.rand(steps, 1, 3, 224, 224))
        assert out.shape == (steps, 1, 1000) and torch.isfinite(out).all()
        print(f"{name} T={steps} 224x224: {time.perf_counter() - start:.2f} s")


def test_pretrained_weights_start_the_fine_tune(tmp_path):
    from neuro.errors import CheckpointError
    from neuro.training import save_checkpoint

    table = {"name": "meta_spikeformer", "embed_dims": [8, 16, 16, 24], "depths": [1, 1, 1, 1, 1], "num_heads": 4}
    first = build_model(table, (2, 16, 16), 10)  # e.g. the T = 1 stage
    save_checkpoint(tmp_path / "checkpoint.safetensors", first)
    second = build_model({**table, "pretrained": str(tmp_path), "distillation": True}, (2, 16, 16), 10)
    for name, p in first.state_dict().items():
        assert torch.equal(p, second.state_dict()[name]), name
    assert second.head_kd is not None  # absent from the checkpoint: keeps its fresh initialisation
    with pytest.raises(CheckpointError, match="does not match"):
        build_model({**table, "embed_dims": [8, 16, 16, 32], "pretrained": str(tmp_path)}, (2, 16, 16), 10)
    with pytest.raises(CheckpointError, match="no checkpoint"):
        build_model({**table, "pretrained": str(tmp_path / "nope")}, (2, 16, 16), 10)


def test_a_fine_tuned_run_reloads_without_its_pretrained_source(tmp_path):
    from neuro.experiment import build_from_checkpoint, load_experiment
    from neuro.training import save_checkpoint
    from tests.conftest import REPO

    exp = load_experiment(REPO / "experiments" / "meta_tiny_nmnist_t4.toml")
    assert exp.settings.model["pretrained"]  # points at a stage-1 run folder that does not exist here
    table = {k: v for k, v in exp.settings.model.items() if k != "pretrained"}
    trained = build_model(table, (2, 34, 34), 10)
    config = {"experiment": exp.raw, "input_shape": [2, 34, 34], "num_classes": 10}
    save_checkpoint(tmp_path / "checkpoint.safetensors", trained, config=config)
    model, _ = build_from_checkpoint(tmp_path)
    for name, p in trained.state_dict().items():
        assert torch.equal(p, model.state_dict()[name]), name


def test_counted_in_the_papers_form_after_reparameterisation():
    from neuro.analysis import count_ops

    model = _lively(MetaSpikeFormer(TINY, in_channels=2, num_classes=10)).eval()
    folded = reparameterize(model, merge_separable=True)
    counts = count_ops(folded, torch.rand(2, 3, 2, 32, 32) * 3)
    synaptic = [layer for layer in counts if layer.kind in ("synapse", "attention")]
    assert synaptic[0].name == "stages.0.0.conv" and not synaptic[0].input_binary  # the MAC layer
    assert [layer.name for layer in synaptic[1:] if not layer.input_binary] == []  # all others on spikes
    assert sum(layer.kind == "attention" for layer in synaptic) == 2
    # the SepConv depthwise/pointwise pair is one dense 7×7 conv: FL = 49 · h · w · 2d · d per step
    sep = counts["stages.0.1.sepconv.dwpw"]
    assert sep.macs_per_step == 49 * 16 * 16 * 8 * 4


def test_bn_eps_reaches_every_batchnorm_and_folding_still_matches():
    cfg = MetaSpikeFormerConfig(embed_dims=(8, 16, 16, 24), depths=(1, 1, 1, 1, 1), num_heads=4, bn_eps=1e-2)
    model = MetaSpikeFormer(cfg, in_channels=2, num_classes=10).double()
    eps = {m.eps for m in model.modules() if isinstance(m, nn.BatchNorm2d)}
    assert eps == {1e-2}
    with torch.no_grad():
        model(torch.rand(2, 4, 2, 16, 16, dtype=torch.float64) * 3)
    x = torch.rand(2, 2, 2, 16, 16, dtype=torch.float64) * 3
    with torch.no_grad():
        torch.testing.assert_close(reparameterize(model)(x), model.eval()(x), rtol=0, atol=1e-9)
    with pytest.raises(ConfigError, match="bn_eps"):
        MetaSpikeFormerConfig(bn_eps=0.0)
