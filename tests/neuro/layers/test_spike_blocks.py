"""Spike-driven transformer blocks: shapes, binary spikes, membrane shortcuts, gradient flow."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from neuro.layers.neuron_setting import NeuronSetting
from neuro.layers.spike_blocks import MetaConvBlock, MetaTransformerBlock, SDTBlock, SepConv, SpikingMLP
from tests.neuro.sdt_checks import assert_grads_flow, inputs_of, is_binary, recorded_spikes, single_thread


def _lively_v2() -> MetaTransformerBlock:
    """A V2 block whose Q, K, V fire at ~40%, so the attention neuron fires too at random init."""
    block = MetaTransformerBlock(16, num_heads=4)
    with torch.no_grad():
        for conv in (block.attn.q_conv, block.attn.k_conv, block.attn.v_conv):
            conv.module.bn.bias.fill_(1.5)
    return block


@pytest.fixture(autouse=True)
def _single_thread():
    with single_thread():
        yield


BLOCKS = {
    "sdt": lambda: SDTBlock(16, num_heads=4),
    "sdt_dvs": lambda: SDTBlock(16, num_heads=4, dvs=True),
    "meta_conv": lambda: MetaConvBlock(8),
    "meta_transformer": _lively_v2,
    "sepconv": lambda: SepConv(8),
    "mlp": lambda: SpikingMLP(8, 32),
}


def _input(name: str) -> torch.Tensor:
    channels = 8 if name in ("meta_conv", "sepconv", "mlp") else 16
    return torch.randn(3, 2, channels, 5, 4) * 2


@pytest.mark.parametrize("name", sorted(BLOCKS))
def test_block_shape_and_binary_spikes(name):
    block = BLOCKS[name]()
    x = _input(name)
    assert block(x).shape == x.shape
    spikes = recorded_spikes(block, x)
    for key, s in spikes.items():
        assert is_binary(s), f"{key} is not binary"
    silent = [key for key, s in spikes.items() if s.sum() == 0]
    assert not silent, f"neurons that never fired (the test input is too weak): {silent}"


@pytest.mark.parametrize("name", sorted(BLOCKS))
def test_block_gradients_reach_every_parameter(name):
    block = BLOCKS[name]()
    x = _input(name).requires_grad_()
    unused = ("talking_heads.weight",) if name.startswith("sdt") else ()
    assert_grads_flow(block, (block(x) * torch.randn_like(x)).sum(), unused=unused)
    assert x.grad is not None and x.grad.abs().sum() > 0


@pytest.mark.parametrize("name", ["sdt", "meta_conv", "meta_transformer"])
def test_dense_layers_see_spikes(name):
    # every conv applied to the residual stream receives spikes; only the layers inside a
    # re-parameterisable unit (RepConv's BN-padded depthwise/pointwise, SepConv's depthwise ->
    # pointwise pair) see real values, and they fold into one conv on spikes (see reparam)
    block = BLOCKS[name]()
    seen = inputs_of(block, (nn.Conv2d,), _input(name))
    internal = ("dw", "pw2", "dwpw.module.conv.pw")
    for module_name, x in seen:
        if module_name.endswith(internal):
            continue
        assert is_binary(x), f"{module_name} receives real values"
    assert len(seen) > 3


def test_membrane_shortcut_adds_branch_to_unspiked_input():
    block = MetaConvBlock(4)
    x = torch.randn(2, 1, 4, 3, 3)
    with torch.no_grad():
        for m in block.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.zero_()
                m.bias.zero_()
    # both branches end in BN with zero affine parameters: the block is the identity on membranes
    torch.testing.assert_close(block(x), x)


def test_mlp_hidden_residual_matches_v1_formula():
    torch.manual_seed(3)
    mlp = SpikingMLP(6, 6, hidden_residual=True).eval()
    x = torch.randn(2, 1, 6, 2, 2) * 3
    y1 = mlp.fc1_conv(mlp.fc1_lif(x)[0])
    y2 = mlp.fc2_conv(mlp.fc2_lif(x + y1)[0])
    torch.testing.assert_close(mlp(x), y1 + y2)
    with pytest.raises(ValueError, match="hidden == dim"):
        SpikingMLP(6, 24, hidden_residual=True)


def test_neuron_setting_reaches_every_neuron():
    block = SDTBlock(16, num_heads=4, neuron=NeuronSetting(v_threshold=0.7, attn_threshold=0.3, tau=3.0))
    thresholds = sorted({m.v_threshold for m in block.modules() if hasattr(m, "v_threshold")})
    assert thresholds == [0.3, 0.7]
    assert all(m.tau_mem == pytest.approx(3e-3) for m in block.modules() if hasattr(m, "tau_mem"))
