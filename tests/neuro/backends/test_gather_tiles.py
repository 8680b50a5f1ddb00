"""The tiled event gather (``neuro.backends._numba_gather``): the same float sums as ``embedding_bag`` (bit for bit:
both add a bag's rows left to right from +0.0), into the result or its transpose, for table widths around the
tile width, empty and long bags, int32 and int64 indices, one thread and several, and the rule that picks it."""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from neuro.backends import _fused_event as fe
from neuro.backends import _numba_gather as ng


def _bags(bags: int, rows: int, density: float, seed: int, index: torch.dtype = torch.int32):
    g = torch.Generator().manual_seed(seed)
    x = (torch.rand(bags, rows, generator=g) < density).float()
    x[1] = 0  # an empty bag
    x[-1] = 1  # a bag of every row
    indptr, indices, values = fe.to_csr(x, fe.row_counts(x))
    assert values is None
    return x, indptr.to(index), indices.to(index)


def _reference(indices: torch.Tensor, table: torch.Tensor, indptr: torch.Tensor) -> torch.Tensor:
    return F.embedding_bag(indices.long(), table.contiguous(), indptr[:-1].long(), mode="sum")


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("extra", [0, 1, 31, 64, 100])
@pytest.mark.parametrize("transposed", [False, True])
def test_equals_embedding_bag_bit_for_bit(dtype, extra, transposed):
    width = ng.tile_columns(torch.empty((), dtype=dtype).element_size())
    n = width + extra  # one tile, a tile and a bit (the last tile overlaps), several
    x, indptr, indices = _bags(37, 70, 0.3, seed=extra)
    table = torch.randn(70, n, dtype=dtype, generator=torch.Generator().manual_seed(1))
    got = fe._gather_tiles(indices, table, indptr, transposed)
    want = _reference(indices, table, indptr)
    assert torch.equal(got, want.t() if transposed else want)
    if dtype == torch.float64:  # and close to the dense product
        torch.testing.assert_close(got.t() if transposed else got, x.to(dtype) @ table, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("index", [torch.int32, torch.int64])
def test_strided_table_and_index_dtypes(index):
    """A transposed view (an event layer's ``W^T``) is tiled by copying; int64 indices (beyond 2^31 entries)."""
    _, indptr, indices = _bags(50, 90, 0.2, seed=3, index=index)
    weight = torch.randn(130, 90, generator=torch.Generator().manual_seed(2))
    got = fe._gather_tiles(indices, weight.t(), indptr)
    assert torch.equal(got, _reference(indices, weight.t(), indptr))
    wide = torch.randn(150, 95, generator=torch.Generator().manual_seed(8))
    for view in (wide[3:133].t()[:90], wide[:90, 2:67], wide[:90, 1:94]):  # views starting inside their storage
        assert view.storage_offset() > 0
        assert torch.equal(fe._gather_tiles(indices, view, indptr), _reference(indices, view, indptr))


@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("bags", [1, 5, 300, 1000])
def test_threads_and_work_blocks(threads, bags):
    """Few bags: the tiles are shared out between threads; many: blocks of bags. Same result either way."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        _, indptr, indices = _bags(max(bags, 2), 64, 0.1, seed=bags)
        table = torch.randn(64, 200, generator=torch.Generator().manual_seed(4))
        for transposed in (False, True):
            want = _reference(indices, table, indptr)
            got = fe._gather_tiles(indices, table, indptr, transposed)
            assert torch.equal(got, want.t() if transposed else want)
    finally:
        torch.set_num_threads(before)


def test_work_blocks_cover_every_bag_and_tile_once():
    for bags, tiles, threads in ((1, 1, 1), (5, 3, 2), (256, 4, 2), (3200, 8, 2), (19200, 16, 4), (7, 100, 8)):
        work, per_block = ng.work_blocks(bags, tiles, threads)
        per_tile = -(-bags // per_block)
        assert work == tiles * per_tile and 1 <= per_block <= 256
        assert work >= min(4 * threads, tiles * bags)  # enough blocks for every thread, when there are bags enough


def test_nan_and_infinity_propagate():
    _, indptr, indices = _bags(9, 20, 0.5, seed=5)
    table = torch.randn(20, 64, generator=torch.Generator().manual_seed(5))
    table[indices[0], 3] = float("nan")
    table[indices[0], 7] = float("inf")
    got = fe._gather_tiles(indices, table, indptr)
    assert torch.equal(got.isnan(), _reference(indices, table, indptr).isnan())
    assert torch.equal(got.nan_to_num(), _reference(indices, table, indptr).nan_to_num())


def test_rule_picks_the_tiled_kernel_for_tables_whose_tile_fits_half_of_l2(monkeypatch):
    monkeypatch.setattr(fe, "_L2", 2 << 20)
    assert fe.tiled(torch.empty(2312, 512)) and fe.tiled(torch.empty(3200, 512))  # W1, W4: 590 / 800 KiB tiles
    assert fe.tiled(torch.empty(4096, 64)) and not fe.tiled(torch.empty(4097, 64))  # 1 MiB: half of L2
    assert not fe.tiled(torch.empty(8192, 256))  # W5's weight gradients: 2 MiB tiles
    assert not fe.tiled(torch.empty(100, 63)) and fe.tiled(torch.empty(100, 32, dtype=torch.float64))  # a tile wide
    assert not fe.tiled(torch.empty(100, 200, dtype=torch.float16))


def test_gather_dispatch_uses_it_for_binary_inputs_only(monkeypatch):
    calls = []
    original = fe._gather_tiles
    monkeypatch.setattr(fe, "_gather_tiles", lambda *a: calls.append(1) or original(*a))
    monkeypatch.setattr(fe, "whole_table", lambda *a: False)
    _, indptr, indices = _bags(40, 300, 0.1, seed=6)
    table = torch.randn(300, 100, generator=torch.Generator().manual_seed(6))
    assert torch.equal(fe._gather(indices, table, indptr, None), _reference(indices, table, indptr))
    values = torch.rand(indices.shape[0], generator=torch.Generator().manual_seed(7))
    fe._gather(indices, table, indptr, values)  # graded: embedding_bag's weighted sums
    assert calls == [1]
