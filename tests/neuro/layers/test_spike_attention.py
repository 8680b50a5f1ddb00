"""Spike-driven self-attention: golden values, head layout, binary operands, shapes."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from neuro.errors import ShapeError
from neuro.layers.neuron_setting import NeuronSetting
from neuro.layers.spike_attention import (
    Erode,
    LinearSpikeAttention,
    MaskAddAttention,
    SpikeDrivenSelfAttention,
    SpikeDrivenSelfAttentionV2,
    merge_heads,
    split_heads,
)
from tests.neuro.sdt_checks import ProductSpy, is_binary, single_thread


@pytest.fixture(autouse=True)
def _single_thread():
    with single_thread():
        yield


def _binary(*shape: int, p: float = 0.3) -> torch.Tensor:
    return (torch.rand(*shape) < p).float()


# -- head layout ------------------------------------------------------------------------------------
@given(t=st.integers(1, 3), b=st.integers(1, 2), heads=st.integers(1, 4), d=st.integers(1, 3),
       h=st.integers(1, 4), w=st.integers(1, 4))
def test_split_merge_round_trip_and_channel_layout(t, b, heads, d, h, w):
    x = torch.randn(t, b, heads * d, h, w)
    parts = split_heads(x, heads)
    assert parts.shape == (t, b, heads, h * w, d)
    assert torch.equal(merge_heads(parts, h, w), x)
    # channel c = head * d + j, token n = row * W + col (the official reshape)
    hh, j, n = heads - 1, d - 1, h * w - 1
    assert parts[0, 0, hh, n, j] == x[0, 0, hh * d + j, n // w, n % w]


# -- SDSA-V1 operator -------------------------------------------------------------------------------
def test_mask_add_attention_golden():
    # one head, 3 tokens, 3 channels; worked by hand:
    q = torch.tensor([[1., 0., 1.], [0., 1., 1.], [1., 1., 0.]])
    k = torch.tensor([[1., 1., 0.], [1., 0., 1.], [0., 1., 1.]])
    v = torch.tensor([[1., 0., 0.], [1., 1., 0.], [0., 0., 1.]])
    # k*v = [[1,0,0],[1,0,0],[0,0,1]] -> column sums [2, 0, 1] -> LIF(tau 2, th 0.5) from rest:
    # h = sums / 2 = [1, 0, 0.5] -> spikes [1, 0, 1] -> out = q masked by [1, 0, 1]
    out = MaskAddAttention()(q[None, None, None], k[None, None, None], v[None, None, None])[0, 0, 0]
    assert out.tolist() == [[1., 0., 1.], [0., 0., 1.], [1., 0., 0.]]


def test_mask_add_attention_neuron_keeps_state_over_time():
    # one coincidence per step: h = 0.5 reaches the 0.5 threshold at once, resets to 0, fires again
    q = torch.ones(2, 1, 1, 1, 1)
    k = torch.ones(2, 1, 1, 1, 1)
    v = torch.ones(2, 1, 1, 1, 1)
    assert MaskAddAttention()(q, k, v).flatten().tolist() == [1.0, 1.0]
    # with the threshold raised to 1.0: h = 0.5, then 0.5 + (1 - 0.5) / 2 = 0.75: no spike
    strict = MaskAddAttention(NeuronSetting(attn_threshold=1.0))
    assert strict(q, k, v).flatten().tolist() == [0.0, 0.0]


def test_mask_add_attention_multiplies_only_binary_tensors_and_never_contracts():
    q, k, v = (_binary(2, 3, 4, 10, 8) for _ in range(3))
    with ProductSpy() as spy:
        out = MaskAddAttention()(q, k, v)
    assert spy.contractions == []  # no matmul, no softmax
    # the attention products (k*v over all tokens, q*mask) are binary x binary; the LIF's own
    # products (the reset, on one token row) have a binary spike operand
    token_products = [(a, b) for a, b in spy.products if 10 in (a.shape[-2], b.shape[-2])]
    assert len(token_products) == 2
    for a, b in token_products:
        assert is_binary(a) and is_binary(b)
    for a, b in spy.products:
        assert is_binary(a) or is_binary(b), "a product of two real-valued tensors"
    assert is_binary(out)


def test_sdsa_v1_branch_never_multiplies_two_real_tensors():
    attn = SpikeDrivenSelfAttention(dim=32, num_heads=4)
    x = torch.randn(3, 2, 32, 5, 5) * 2
    with ProductSpy() as spy:
        attn(x)
    assert spy.contractions == []
    assert spy.products, "the spy saw no products"
    for a, b in spy.products:
        assert is_binary(a) or is_binary(b), f"real x real product of shapes {tuple(a.shape)}, {tuple(b.shape)}"


def test_erode_is_a_3x3_max_over_the_last_two_axes():
    x = torch.zeros(1, 2, 1, 5, 5)
    x[0, 1, 0, 2, 2] = 1.0
    y = Erode()(x)
    assert y.shape == x.shape and y[0, 0].sum() == 0
    assert y[0, 1, 0].tolist() == [[0.0] * 5] + [[0.0, 1.0, 1.0, 1.0, 0.0]] * 3 + [[0.0] * 5]


# -- SDSA-V2 operator -------------------------------------------------------------------------------
def test_linear_spike_attention_golden():
    q = torch.tensor([[1., 0.], [1., 1.]])
    k = torch.tensor([[1., 1.], [0., 1.]])
    v = torch.tensor([[1., 0.], [1., 1.]])
    # k^T v = [[1, 0], [2, 1]];  q @ that = [[1, 0], [3, 1]];  * 0.125
    out = LinearSpikeAttention()(q[None, None, None], k[None, None, None], v[None, None, None])[0, 0, 0]
    assert out.tolist() == [[0.125, 0.0], [0.375, 0.125]]


def test_linear_spike_attention_equals_quadratic_order_and_counts_are_integers():
    q, k, v = (_binary(2, 3, 8, 20, 6).double() for _ in range(3))
    out = LinearSpikeAttention(scale=0.25)(q, k, v)
    torch.testing.assert_close(out, (q @ k.transpose(-2, -1)) @ v * 0.25)
    counts = k.transpose(-2, -1) @ v
    assert torch.equal(counts, counts.round()) and counts.max() <= 20


# -- attention branches -----------------------------------------------------------------------------
@pytest.mark.parametrize("cls", [SpikeDrivenSelfAttention, SpikeDrivenSelfAttentionV2])
def test_attention_branch_shapes_and_binary_qkv(cls):
    attn = cls(dim=16, num_heads=4)
    seen = {}
    attn.attention.register_forward_hook(lambda m, args, out: seen.update(q=args[0], k=args[1], v=args[2], out=out))
    y = attn(torch.randn(2, 3, 16, 4, 6) * 2)
    assert y.shape == (2, 3, 16, 4, 6)
    for name in ("q", "k", "v"):
        assert seen[name].shape == (2, 3, 4, 24, 4)
        assert is_binary(seen[name]), f"{name} is not binary"
    assert seen["out"].shape == (2, 3, 4, 24, 4)


def test_sdsa_v1_dvs_mode_runs_and_stays_binary():
    attn = SpikeDrivenSelfAttention(dim=16, num_heads=2, dvs=True)
    seen = {}
    attn.attention.register_forward_hook(lambda m, args, out: seen.update(out=out))
    assert attn(torch.randn(2, 1, 16, 4, 4) * 3).shape == (2, 1, 16, 4, 4)
    assert is_binary(seen["out"])


def test_attention_rejects_bad_shapes():
    with pytest.raises(ValueError, match="divisible"):
        SpikeDrivenSelfAttention(dim=10, num_heads=4)
    with pytest.raises(ShapeError, match=r"\(T, B, C, H, W\)"):
        SpikeDrivenSelfAttentionV2(dim=8, num_heads=2)(torch.randn(2, 8, 4, 4))


# -- op counting (neuro.analysis) ------------------------------------------------------------------
@pytest.mark.parametrize("cls", [SpikeDrivenSelfAttention, SpikeDrivenSelfAttentionV2])
def test_attention_counts_itself_on_its_binary_qkv(cls):
    from neuro.analysis import count_ops

    attn = cls(dim=16, num_heads=4)
    seen = {}
    attn.attention.register_forward_hook(lambda m, args, out: seen.update(q=args[0], k=args[1], v=args[2]))
    steps, batch, tokens, dim, d = 3, 2, 20, 16, 4
    counts = count_ops(attn, torch.randn(steps, batch, dim, 4, 5) * 3)
    layer = counts["attention"]
    assert layer.kind == "attention" and layer.input_binary
    q, k, v = seen["q"], seen["k"], seen["v"]
    if cls is SpikeDrivenSelfAttention:  # mask + column sum: 2 N D per step (PAPERS §5.2)
        assert layer.macs == 2 * steps * tokens * dim
        assert layer.synops == (torch.count_nonzero(k) + torch.count_nonzero(k * v)).item() / batch
    else:  # k^T v and q @ (.): 2 N D d per step
        assert layer.macs == 2 * steps * tokens * dim * d
        kv = ((k != 0).sum(-1) * (v != 0).sum(-1)).sum() + torch.count_nonzero(q) * d
        assert layer.synops == kv.item() / batch
