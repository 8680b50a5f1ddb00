"""EventLinear: same values and gradients as the dense layer, automatic path choice by density."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch.nn import functional as F

from neuro import Sequential, backends
from neuro.errors import ConfigError, ShapeError
from neuro.layers import EventLinear

pytest.importorskip("numba")


def _spikes(shape, density, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(shape, generator=g, dtype=dtype) < density).to(dtype)


def _grads(layer, x, mode):
    layer.mode = mode
    layer.zero_grad()
    x = x.detach().clone().requires_grad_()
    y = layer(x)
    w = torch.linspace(-1, 1, y.numel(), dtype=y.dtype).view_as(y)
    (y * w).sum().backward()
    return y.detach(), x.grad, layer.weight.grad.clone(), layer.bias.grad.clone()


@pytest.fixture(params=["whole", "tiles", "blocks"])
def gather(request, monkeypatch):
    """Every gather in one call, on neuro's tiled kernel where it applies (binary inputs), or in 64-column
    ``embedding_bag`` blocks (``_fused_event.whole_table`` and ``tiled`` decide by size)."""
    from neuro.backends import _fused_event

    monkeypatch.setattr(_fused_event, "whole_table", lambda *a: request.param == "whole")
    if request.param == "blocks":
        monkeypatch.setattr(_fused_event, "tiled", lambda *a: False)
    return request.param


@pytest.mark.parametrize(("kind", "width"), [("binary", 11), ("graded", 11), ("binary", 300), ("graded", 300)])
def test_event_path_equals_dense_values_and_gradients(kind, width, gather):
    layer = EventLinear(37, width).double()  # 300 outputs: 5 column blocks when gathered in blocks
    x = _spikes((6, 5, 37), 0.1)
    if kind == "graded":  # non-binary inputs carry their values through the gather
        x = x * torch.rand(x.shape, dtype=x.dtype, generator=torch.Generator().manual_seed(1)) * 3
    event = _grads(layer, x, "event")
    dense = _grads(layer, x, "dense")
    for a, b in zip(event, dense, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("width", [40, 300])
def test_float32_close_to_dense(width, gather):
    """300 outputs in blocks: the float32 gathers run on 64-column slices of the weight and of the output gradient."""
    layer = EventLinear(300, width)
    x = _spikes((50, 300), 0.05, dtype=torch.float32)
    for a, b in zip(_grads(layer, x, "event"), _grads(layer, x, "dense"), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


@given(rows=st.integers(1, 40), k=st.integers(1, 30), n=st.integers(1, 20), density=st.floats(0.0, 1.0),
       bias=st.booleans(), seed=st.integers(0, 100))
def test_any_shape_and_density(rows, k, n, density, bias, seed):
    torch.manual_seed(seed)
    layer = EventLinear(k, n, bias=bias, mode="event").double()
    x = _spikes((rows, k), density, seed)
    x.requires_grad_()
    y = layer(x)
    torch.testing.assert_close(y, F.linear(x, layer.weight, layer.bias), rtol=1e-12, atol=1e-12)
    y.sum().backward()
    torch.testing.assert_close(layer.weight.grad, torch.ones(rows, n, dtype=x.dtype).t() @ x.detach(),
                               rtol=1e-12, atol=1e-12)


def test_gather_whole_or_in_blocks_by_size(monkeypatch):
    from neuro.backends import _fused_event
    from neuro.backends._fused_event import whole_table

    monkeypatch.setattr(_fused_event, "WHOLE_TABLE_BYTES", 512 << 10)  # a 2 MiB L2
    monkeypatch.setattr(_fused_event, "WHOLE_NARROW_BYTES", 1 << 20)
    assert whole_table(2312, 128, 4, 8192)  # at most two blocks' width: always whole
    assert whole_table(256, 512, 4, 8192)  # 512 KiB: stays in L2
    assert whole_table(1024, 256, 4, 8192) and not whole_table(1024, 257, 4, 8192)  # 1 MiB, at most 256 wide
    assert not whole_table(256, 1024, 4, 8192) and not whole_table(2312, 256, 4, 8192)
    assert whole_table(256, 256, 4, 32767) and not whole_table(256, 256, 4, 32768)  # a 32 MiB result: in blocks


def test_l2_size_from_sysfs(tmp_path):
    from neuro.backends._fused_event import l2_bytes

    for index, (level, kind, size) in enumerate([("1", "Data", "48K"), ("1", "Instruction", "32K"),
                                                  ("2", "Unified", "2048K"), ("3", "Unified", "300M")]):
        d = tmp_path / f"index{index}"
        d.mkdir()
        for name, value in (("level", level), ("type", kind), ("size", size)):
            (d / name).write_text(value + "\n")
    assert l2_bytes(root=str(tmp_path)) == 2048 << 10
    (tmp_path / "index2" / "size").write_text("1M\n")
    assert l2_bytes(root=str(tmp_path)) == 1 << 20
    (tmp_path / "index2" / "size").write_text("garbled\n")
    assert l2_bytes(123, root=str(tmp_path)) == 123
    assert l2_bytes(456, root=str(tmp_path / "missing")) == 456


def test_float64_gradcheck():
    from neuro.backends.fused import event_linear

    x = _spikes((7, 9), 0.3).requires_grad_()
    w = torch.randn(4, 9, dtype=torch.float64, requires_grad=True)
    b = torch.randn(4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x, w, b: event_linear(x, w, b), (x, w, b))


def test_auto_mode_gathers_only_below_the_density_threshold(monkeypatch):
    from neuro.backends import _fused_event

    calls = []
    original = _fused_event._EventLinear.apply
    monkeypatch.setattr(_fused_event._EventLinear, "apply", lambda *a: calls.append(1) or original(*a))
    layer = EventLinear(50, 5, max_density=0.2).double()
    sparse, dense = _spikes((20, 50), 0.05), _spikes((20, 50), 0.6)
    torch.testing.assert_close(layer(sparse), F.linear(sparse, layer.weight, layer.bias))
    assert len(calls) == 1
    torch.testing.assert_close(layer(dense), F.linear(dense, layer.weight, layer.bias))
    assert len(calls) == 1  # too dense: the GEMM ran
    with backends.use("reference"):  # the reference backend means the plain GEMM
        layer(sparse)
    assert len(calls) == 1


def test_dense_binary_input_is_kept_as_bits(monkeypatch):
    """A binary input above the density threshold runs as a GEMM and is kept as its bitmap for the weight gradient
    (equal to the dense layer's); a graded one runs as the plain GEMM."""
    from neuro.backends import _fused_event

    unpacked = []
    original = _fused_event.unpack
    monkeypatch.setattr(_fused_event, "unpack", lambda bits, *a: unpacked.append(bits) or original(bits, *a))
    monkeypatch.setattr(_fused_event, "UNPACKED", 80)  # the weight gradient unpacks 2 rows at a time
    layer = EventLinear(37, 300, max_density=0.1).double()
    x = _spikes((6, 5, 37), 0.5)
    for a, b in zip(_grads(layer, x, "auto"), _grads(layer, x, "dense"), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
    assert len(unpacked) == 15 and all(b.dtype == np.uint64 and b.shape == (2, 1) for b in unpacked)
    graded = x * 0.5
    for a, b in zip(_grads(layer, graded, "auto"), _grads(layer, graded, "dense"), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
    assert len(unpacked) == 15


def _count_gathers(monkeypatch):
    from neuro.backends import _fused_event

    calls = []
    original = _fused_event._gather
    monkeypatch.setattr(_fused_event, "_gather", lambda *a, **k: calls.append(k.get("transposed", False))
                        or original(*a, **k))
    return calls


def test_forward_gather_band_keeps_bits_for_the_weight_gradient(monkeypatch):
    """Between max_density and max_forward_density a binary input is gathered forward (one gather, no transposed
    weight-gradient gather) and its weight gradient comes from the bits; values and gradients equal the dense
    layer's. A graded input there runs as the GEMM when the weight needs a gradient."""
    from neuro.backends import _fused_event

    calls = _count_gathers(monkeypatch)
    unpacked = []
    original = _fused_event.unpack
    monkeypatch.setattr(_fused_event, "unpack", lambda bits, *a: unpacked.append(1) or original(bits, *a))
    layer = EventLinear(40, 300, max_density=0.1, max_forward_density=0.3).double()
    x = _spikes((6, 5, 40), 0.2)
    for a, b in zip(_grads(layer, x, "auto"), _grads(layer, x, "dense"), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
    assert calls == [False] and unpacked == [1]
    for a, b in zip(_grads(layer, x * 0.5, "auto"), _grads(layer, x * 0.5, "dense"), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
    assert calls == [False]  # graded, weight gradient wanted: the GEMM
    layer.max_forward_density = 0.0  # the band turned off: the GEMM, bits kept
    for a, b in zip(_grads(layer, x, "auto"), _grads(layer, x, "dense"), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
    assert calls == [False] and unpacked == [1, 1]


def test_forward_gather_band_in_inference_and_with_a_frozen_weight(monkeypatch):
    calls = _count_gathers(monkeypatch)
    layer = EventLinear(40, 7, max_density=0.1, max_forward_density=0.3).double()
    graded = _spikes((50, 40), 0.25) * torch.linspace(0.1, 2.0, 40, dtype=torch.float64)
    with torch.no_grad():
        torch.testing.assert_close(layer(graded), F.linear(graded, layer.weight, layer.bias))
    assert len(calls) == 1  # inference: gathered, values included
    assert layer(_spikes((50, 40), 0.35)).shape == (50, 7) and len(calls) == 1  # above the band: the GEMM
    layer.requires_grad_(False)
    x = _spikes((50, 40), 0.25).requires_grad_()
    y = layer(x)
    assert len(calls) == 2
    y.sum().backward()
    torch.testing.assert_close(x.grad, layer.weight.sum(0).expand(50, 40))
    with pytest.raises(ConfigError, match="max_forward_density"):
        EventLinear(8, 4, max_forward_density=1.5)


@given(rows=st.integers(1, 300), k=st.integers(1, 150), density=st.floats(0.0, 1.0), graded=st.booleans(),
       seed=st.integers(0, 100))
def test_bitmap_csr_and_round_trip(rows, k, density, graded, seed):
    """The counting pass's bitmap is ``numpy.packbits`` of the non-zeros (little bit order), the CSR built from it
    is torch's ``nonzero`` (values included for a graded input), and unpacking gives the 0/1 input back."""
    from neuro.backends._fused_event import row_counts, to_csr, unpack

    x = _spikes((rows, k), density, seed, dtype=torch.float32)
    if graded:
        x = x * torch.rand(x.shape, generator=torch.Generator().manual_seed(seed)) * 2
    scanned = row_counts(x)
    assert scanned.bits.shape == (rows, (k + 63) // 64)
    packed = np.packbits(x.numpy() != 0, axis=1, bitorder="little")
    assert np.array_equal(scanned.bits.view(np.uint8)[:, :packed.shape[1]], packed)
    assert scanned.binary == bool(((x == 0) | (x == 1)).all())
    indptr, indices, values = to_csr(x, scanned)
    nz = x.nonzero()
    assert torch.equal(indptr[1:].long() - indptr[:-1].long(), torch.bincount(nz[:, 0], minlength=rows))
    assert torch.equal(indices.long(), nz[:, 1])
    assert (values is None) == scanned.binary
    if values is not None:
        assert torch.equal(values, x[nz[:, 0], nz[:, 1]])
    assert torch.equal(unpack(scanned.bits, k, torch.float64), (x != 0).double())


@given(rows=st.integers(0, 200), k=st.integers(1, 90), density=st.floats(0.0, 1.0), graded=st.booleans(),
       seed=st.integers(0, 100))
def test_csc_transposition_is_torchs_column_major_nonzero(rows, k, density, graded, seed):
    """The CSR -> CSC counting sort: for every column its rows ascending, and the values with them."""
    from neuro.backends import _fused_event as fe

    x = _spikes((rows, k), density, seed, dtype=torch.float32)
    if graded:
        x = x * torch.rand(x.shape, generator=torch.Generator().manual_seed(seed)) * 2
    colptr, row_index, values = fe._to_csc(*fe.to_csr(x, fe.row_counts(x)), k)
    nz = x.t().nonzero()  # (column, row) pairs, column-major
    assert torch.equal(colptr[1:].long() - colptr[:-1].long(), torch.bincount(nz[:, 0], minlength=k))
    assert torch.equal(row_index.long(), nz[:, 1])
    if values is not None:
        assert torch.equal(values, x[nz[:, 1], nz[:, 0]])


def test_event_linear_op_declines_dense_inputs():
    from neuro.backends.fused import event_linear

    x = _spikes((10, 10), 0.5)
    w = torch.randn(3, 10, dtype=torch.float64)
    assert event_linear(x, w, None, max_density=0.1) is None
    assert event_linear(x, w, None, max_density=1.0) is not None


def test_in_a_sequential_over_time_and_errors():
    net = Sequential(EventLinear(8, 4), torch.nn.Identity())
    out, _ = net(_spikes((5, 3, 8), 0.2, dtype=torch.float32))
    assert out.shape == (5, 3, 4)
    with pytest.raises(ShapeError, match=r"\(\.\.\., 8\)"):
        EventLinear(8, 4)(torch.zeros(3, 7))
    with pytest.raises(ConfigError, match="mode"):
        EventLinear(8, 4, mode="sparse")
    with pytest.raises(ConfigError, match="max_density"):
        EventLinear(8, 4, max_density=2.0)


def test_unsupported_dtype_runs_dense():
    layer = EventLinear(16, 3, mode="event").to(torch.bfloat16)
    x = _spikes((4, 16), 0.2, dtype=torch.bfloat16)
    torch.testing.assert_close(layer(x), F.linear(x, layer.weight, layer.bias))
