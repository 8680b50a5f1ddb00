"""Re-parameterisation: every fold equals the unfolded module in eval mode (float64)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from neuro.layers.reparam import BNAndPad, ConvBN, DepthwisePointwise, RepConv, fold_bn, reparameterize
from tests.neuro.sdt_checks import single_thread


@pytest.fixture(autouse=True)
def _single_thread():
    with single_thread():
        yield


def _randomise_bn(module: nn.Module) -> nn.Module:
    """Give every BN non-trivial running statistics and affine parameters."""
    g = torch.Generator().manual_seed(1)
    for m in module.modules():
        if isinstance(m, nn.BatchNorm2d):
            with torch.no_grad():
                m.running_mean.copy_(torch.randn(m.num_features, generator=g))
                m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                m.weight.copy_(torch.randn(m.num_features, generator=g))
                m.bias.copy_(torch.randn(m.num_features, generator=g))
    return module


def test_fold_bn_golden():
    bn = nn.BatchNorm2d(1, eps=0.0).eval()
    with torch.no_grad():
        bn.running_mean.fill_(1.0)
        bn.running_var.fill_(4.0)
        bn.weight.fill_(3.0)
        bn.bias.fill_(0.5)
    # scale = 3 / 2 = 1.5; shift = 0.5 - 1 * 1.5 = -1;  w' = 1.5 w,  b' = 1.5 b - 1
    w, b = fold_bn(torch.tensor([[[[2.0]]]]), torch.tensor([1.0]), bn)
    assert w.item() == 3.0 and b.item() == 0.5


@pytest.mark.parametrize("bias", [False, True])
def test_conv_bn_fuse(bias):
    block = _randomise_bn(ConvBN(nn.Conv2d(3, 5, 3, stride=2, padding=1, bias=bias), nn.BatchNorm2d(5))).double().eval()
    x = torch.randn(4, 3, 9, 9, dtype=torch.float64)
    fused = block.fuse()
    assert isinstance(fused, nn.Conv2d) and fused.stride == (2, 2)
    torch.testing.assert_close(fused(x), block(x), rtol=0, atol=1e-12)


def test_bn_and_pad_equals_bn_of_zero_padded_input_in_eval():
    conv = nn.Conv2d(4, 4, 1, bias=False).double()
    layer = _randomise_bn(BNAndPad(4, pad=1)).double().eval()
    x = torch.randn(2, 4, 5, 6, dtype=torch.float64)
    expected = layer.bn(conv(F.pad(x, [1, 1, 1, 1])))
    torch.testing.assert_close(layer(conv(x)), expected, rtol=0, atol=1e-12)


def test_bn_and_pad_gradcheck_in_training_mode():
    layer = _randomise_bn(BNAndPad(3, pad=1)).double().train()
    layer.bn.momentum = 0.0  # keep running statistics (and so the pad fill) fixed across gradcheck's calls
    x = torch.randn(2, 3, 4, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(layer, (x,))


def test_repconv_fuses_to_one_3x3_conv():
    rep = _randomise_bn(RepConv(6, 4)).double().eval()
    x = torch.randn(3, 6, 7, 5, dtype=torch.float64)
    fused = rep.fuse()
    assert isinstance(fused, nn.Conv2d) and fused.kernel_size == (3, 3) and fused.padding == (1, 1)
    torch.testing.assert_close(fused(x), rep(x), rtol=0, atol=1e-10)


def test_repconv_gradcheck_in_training_mode():
    rep = _randomise_bn(RepConv(3, 2)).double().train()
    for m in rep.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.momentum = 0.0  # a pure function of x across gradcheck's calls
    x = torch.randn(2, 3, 4, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(rep, (x,))


def test_depthwise_pointwise_merges_into_dense_conv():
    pair = DepthwisePointwise(4, 3, kernel_size=7).double()
    x = torch.randn(2, 4, 9, 9, dtype=torch.float64)
    merged = pair.fuse()
    assert merged.weight.shape == (3, 4, 7, 7) and merged.groups == 1
    torch.testing.assert_close(merged(x), pair(x), rtol=0, atol=1e-12)


@pytest.mark.parametrize("merge", [False, True])
def test_conv_bn_over_depthwise_pointwise(merge):
    block = _randomise_bn(ConvBN(DepthwisePointwise(4, 3, 7), nn.BatchNorm2d(3))).double().eval()
    x = torch.randn(2, 4, 8, 8, dtype=torch.float64)
    fused = block.fuse(merge_separable=merge)
    assert isinstance(fused, nn.Conv2d) == merge
    torch.testing.assert_close(fused(x), block(x), rtol=0, atol=1e-12)


def test_reparameterize_copies_and_removes_every_foldable_module():
    net = _randomise_bn(nn.Sequential(ConvBN(RepConv(3, 4), nn.BatchNorm2d(4)), nn.ReLU(),
                                      ConvBN(DepthwisePointwise(4, 2, 3), nn.BatchNorm2d(2)))).double()
    x = torch.randn(2, 3, 6, 6, dtype=torch.float64)
    for merge in (False, True):
        folded = reparameterize(net, merge_separable=merge)
        kinds = {type(m) for m in folded.modules()}
        assert not kinds & {ConvBN, RepConv, BNAndPad, nn.BatchNorm2d}
        assert (DepthwisePointwise in kinds) is False
        torch.testing.assert_close(folded(x), net.eval()(x), rtol=0, atol=1e-10)
    assert isinstance(net[0], ConvBN), "reparameterize must not modify its argument"
