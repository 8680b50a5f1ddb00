"""EventConv2d: same values and gradients as the dense convolution, automatic path choice by density."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.nn import functional as F

from neuro import backends
from neuro.errors import ConfigError, ShapeError
from neuro.layers import EventConv2d
from neuro.layers.event_conv import default_max_density

pytest.importorskip("numba")


def _events(shape, density, seed=0, dtype=torch.float64, graded=False):
    g = torch.Generator().manual_seed(seed)
    x = (torch.rand(shape, generator=g, dtype=dtype) < density).to(dtype)
    return x * (torch.rand(shape, generator=g, dtype=dtype) * 3 - 1) if graded else x


def _run(layer, x, mode, input_grad=True):
    layer.mode = mode
    layer.zero_grad()
    x = x.detach().clone().requires_grad_(input_grad)
    y = layer(x)
    w = torch.linspace(-1, 1, y.numel(), dtype=y.dtype).view_as(y)
    (y * w).sum().backward()
    return y.detach(), x.grad, layer.weight.grad.clone(), layer.bias.grad.clone()


@pytest.mark.parametrize(("graded", "padding", "kernel"), [(False, 0, 5), (True, 0, 3), (False, 2, 5), (True, 1, 1)])
def test_event_path_equals_dense_values_and_gradients(graded, padding, kernel):
    layer = EventConv2d(3, 7, kernel, padding=padding).double()
    x = _events((4, 2, 3, 13, 11), 0.15, graded=graded)  # (T, B, C, H, W): leading dims flattened
    event, dense = _run(layer, x, "event"), _run(layer, x, "dense")
    assert event[0].shape == dense[0].shape == (4, 2, 7, 13 + 2 * padding - kernel + 1, 11 + 2 * padding - kernel + 1)
    for a, b in zip(event, dense, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


def test_float32_channels_last_input_and_no_input_gradient():
    layer = EventConv2d(2, 12, 5)
    x = _events((16, 2, 34, 34), 0.1, dtype=torch.float32).contiguous(memory_format=torch.channels_last)
    event, dense = _run(layer, x, "event", input_grad=False), _run(layer, x, "dense", input_grad=False)
    assert event[1] is None and event[0].is_contiguous()
    torch.testing.assert_close(event[0], dense[0], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(event[2], dense[2], rtol=1e-4, atol=1e-3)  # summed over 16 x 30 x 30 outputs
    torch.testing.assert_close(event[3], dense[3], rtol=1e-4, atol=1e-3)


def test_gradcheck_float64():
    layer = EventConv2d(2, 3, 3, padding=1, mode="event").double()
    x = _events((2, 2, 5, 4), 0.4, graded=True).requires_grad_()
    from neuro.backends._fused_conv import event_conv2d

    assert torch.autograd.gradcheck(lambda x, w, b: event_conv2d(x, w, b, 1), (x, layer.weight, layer.bias))


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 3), st.integers(1, 4), st.integers(1, 4), st.integers(1, 3), st.integers(0, 2),
       st.integers(3, 9), st.integers(3, 9), st.floats(0.0, 1.0), st.integers(0, 10**6))
def test_random_shapes_match_f_conv2d(n, c_in, c_out, half_k, padding, h, w, density, seed):
    k = 2 * half_k - 1
    if min(h, w) + 2 * padding < k:
        return
    layer = EventConv2d(c_in, c_out, k, padding=padding, mode="event").double()
    x = _events((n, c_in, h, w), density, seed=seed, graded=True)
    torch.testing.assert_close(layer(x), F.conv2d(x, layer.weight, layer.bias, padding=padding), rtol=1e-12,
                               atol=1e-12)


def test_auto_chooses_by_density_and_configuration(monkeypatch):
    from neuro.backends import _fused_conv

    calls = []
    real = _fused_conv.event_conv2d
    monkeypatch.setattr(_fused_conv, "event_conv2d", lambda *a: calls.append(1) or real(*a))
    layer = EventConv2d(2, 4, 3).double()
    assert layer.max_density == default_max_density(2) == 0.4 and EventConv2d(8, 4, 3).max_density == 0.1
    layer(_events((3, 2, 8, 8), 0.1))
    assert len(calls) == 1
    layer(_events((3, 2, 8, 8), 0.9))  # denser than the limit: oneDNN
    assert len(calls) == 1
    with backends.use("reference"):  # the reference backend is the plain convolution
        layer(_events((3, 2, 8, 8), 0.1))
    assert len(calls) == 1
    for other in (EventConv2d(2, 4, 3, stride=2), EventConv2d(2, 4, 3, dilation=2), EventConv2d(2, 4, 3, groups=2),
                  EventConv2d(2, 4, (3, 1)), EventConv2d(2, 4, 3, padding=(1, 0)),
                  EventConv2d(2, 4, 3, padding=1, padding_mode="reflect")):
        x = _events((3, 2, 8, 8), 0.1, dtype=torch.float32)
        torch.testing.assert_close(other(x), other._conv_forward(x, other.weight, other.bias))
    assert len(calls) == 1  # configurations the event kernels do not cover run dense


def test_errors_name_what_was_expected():
    with pytest.raises(ConfigError, match="mode"):
        EventConv2d(2, 4, 3, mode="sparse")
    with pytest.raises(ConfigError, match="max_density"):
        EventConv2d(2, 4, 3, max_density=1.5)
    with pytest.raises(ShapeError, match=r"\(\.\.\., 2, H, W\).*\(3, 5, 8, 8\)"):
        EventConv2d(2, 4, 3)(torch.zeros(3, 5, 8, 8))


def test_broadcast_output_gradient():
    """``y.sum().backward()`` hands the backward an expanded (zero-stride) gradient."""
    layer = EventConv2d(2, 3, 3, padding=1, mode="event").double()
    x = _events((4, 2, 9, 9), 0.2)
    layer(x).sum().backward()
    got = layer.weight.grad.clone(), layer.bias.grad.clone()
    layer.zero_grad()
    F.conv2d(x, layer.weight, layer.bias, padding=1).sum().backward()
    torch.testing.assert_close(got, (layer.weight.grad, layer.bias.grad), rtol=1e-12, atol=1e-12)


def _node(y):
    """The autograd node that made ``y``, under the layer's reshapes."""
    node = y.grad_fn
    while type(node).__name__ in ("ViewBackward0", "ReshapeAliasBackward0", "UnsafeViewBackward0"):
        node = node.next_functions[0][0]
    return type(node).__name__


@pytest.mark.parametrize(("padding", "bias", "input_grad"), [(0, True, True), (2, False, True), (1, True, False)])
def test_dense_path_weight_gradient_from_channels_last_equals_autograd(padding, bias, input_grad):
    """A too-dense input with 8+ channels runs oneDNN's convolution with its weight gradient taken from a
    channels-last copy of the input: the same values and gradients as ``F.conv2d``'s autograd."""
    layer = EventConv2d(9, 5, 3, padding=padding, bias=bias).double()
    x = _events((3, 2, 9, 8, 7), 0.6, seed=3, graded=True).requires_grad_(input_grad)
    y = layer(x)
    assert _node(y) == "_DenseConv2dBackward"
    gy = torch.randn(y.shape, generator=torch.Generator().manual_seed(1), dtype=y.dtype)
    y.backward(gy)
    got = [x.grad, layer.weight.grad] + ([layer.bias.grad] if bias else [])
    xr = x.detach().clone().requires_grad_(input_grad)
    w, b = layer.weight.detach().clone().requires_grad_(), None if not bias else layer.bias.detach().clone()
    if bias:
        b.requires_grad_()
    ref = F.conv2d(xr.flatten(0, 1), w, b, padding=padding).unflatten(0, (3, 2))
    torch.testing.assert_close(y, ref, rtol=1e-12, atol=1e-12)
    ref.backward(gy)
    want = [xr.grad, w.grad] + ([b.grad] if bias else [])
    for a, e in zip(got, want, strict=True):
        torch.testing.assert_close(a, e, rtol=1e-12, atol=1e-12)


def test_dense_path_gradcheck_and_where_it_applies():
    from neuro.backends._fused_conv import NHWC_WEIGHT_GRAD_CHANNELS, dense_conv2d

    x = _events((2, 8, 5, 4), 0.7, graded=True).requires_grad_()
    w = torch.randn(3, 8, 3, 3, dtype=torch.float64, requires_grad=True)
    b = torch.randn(3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x, w, b: dense_conv2d(x, w, b, 1), (x, w, b))
    dense = _events((2, NHWC_WEIGHT_GRAD_CHANNELS, 6, 6), 0.9)
    few = EventConv2d(NHWC_WEIGHT_GRAD_CHANNELS - 1, 2, 3).double()
    many = EventConv2d(NHWC_WEIGHT_GRAD_CHANNELS, 2, 3).double()
    assert _node(few(dense[:, 1:])) == "ConvolutionBackward0"  # few channels: F.conv2d's autograd
    assert _node(many(dense)) == "_DenseConv2dBackward"
    with torch.no_grad():
        torch.testing.assert_close(many(dense), F.conv2d(dense, many.weight, many.bias))
    many.weight.requires_grad_(False)  # no weight gradient: nothing to gain from the copy
    assert _node(many(dense)) == "ConvolutionBackward0"
