"""Numba kernel of the event-driven gather ``out[r] = sum of table[j] over the active inputs j of row r``.

The table (``W^T``, one row per input) is read in column tiles of :func:`tile_columns` columns (256 bytes:
four 64-byte vectors), stored tile-major (``(tiles, K, width)``, made by ``_fused_event._gather_tiles``) so
that a tile's rows are adjacent and the tile stays in L2 while every row of a block of bags is summed from it.
Per bag and tile,
:func:`sum_rows` (an LLVM intrinsic) keeps the four vector sums in registers, adds the bag's rows in order and
stores them once into the output, prefetching the row it will add :data:`PREFETCH` rows later. The sums are
the plain left-to-right float sums of fbgemm's ``embedding_bag`` (and of the reference ``x @ W^T`` up to
float order); the result is written straight into its place in the ``(M, N)`` output, where torch's gather
returns each column block as a new tensor to be copied there.

Against that ``embedding_bag`` path (slice copies, gathers, output copies), the tiling copy included (one
strided copy of all the whole tiles), on the 2-core Intel Xeon VM (2 MiB L2), float32, paired ratios tiled /
``embedding_bag`` of round-robin calls (``THP_MEM_ALLOC_ENABLE=1 PYTHONPATH=. python experiments/gather_tiles.py``,
2026-11-28, 03:25 UTC): W4's input projection 0.73 (36 against 50 ms), W1's hidden layer forward 0.73 and its
weight gradient 0.85; W5's weight gradients (8192-row tables: 2 MiB tiles, beyond L2) 0.97-1.00 (1.01-1.14 in
earlier runs), so those stay with ``embedding_bag`` (:func:`neuro.backends._fused_event.tiled`). The prefetch
distance was chosen in scratch prototypes (16 rows ahead measured the same as 8; without prefetching W1's weight
gradient lost its gain), not in a script of this repository.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

__all__ = ["PREFETCH", "TILE_BYTES", "gather_tiles", "gather_tiles_t", "sum_rows", "sum_rows_512", "tile_columns",
           "work_blocks"]

#: Bytes of a tile's row: four 64-byte vectors (kept in registers as the sums).
TILE_BYTES = 256
#: Rows ahead whose tile row is prefetched.
PREFETCH = 8


def tile_columns(itemsize: int) -> int:
    """Columns per tile for elements of ``itemsize`` bytes (64 float32, 32 float64)."""
    return TILE_BYTES // itemsize


def _index(builder: ir.IRBuilder, pointer: ir.Value, position: ir.Value) -> ir.Value:
    """``pointer[position]`` of an integer array, widened to i64."""
    value = builder.load(builder.gep(pointer, [position]))
    return builder.sext(value, ir.IntType(64)) if value.type.width < 64 else value


def _sum_rows_of(vectors: int) -> Callable[..., None]:
    """The :func:`sum_rows` intrinsic for rows of ``vectors`` 64-byte vectors."""

    @intrinsic
    def sum_rows(typingctx, tile, indices, p, e, out, o0):
        if not (isinstance(tile, types.Array) and tile.ndim == 2 and tile.layout == "C"
                and tile.dtype in (types.float32, types.float64)
                and isinstance(indices, types.Array) and indices.ndim == 1 and indices.layout == "C"
                and isinstance(indices.dtype, types.Integer)
                and isinstance(out, types.Array) and out.ndim == 1 and out.layout == "C" and out.dtype == tile.dtype
                and all(isinstance(a, types.Integer) for a in (p, e, o0))):
            return None
        lanes = 64 // (tile.dtype.bitwidth // 8)
        sig = types.none(tile, indices, p, e, out, o0)

        def codegen(context, builder, sig, args):
            tile_t, index_t, p_t, e_t, out_t, o0_t = sig.args
            table = context.make_array(tile_t)(context, builder, value=args[0])
            index = context.make_array(index_t)(context, builder, value=args[1])
            dst = context.make_array(out_t)(context, builder, value=args[4])
            i32, i64 = ir.IntType(32), ir.IntType(64)
            byte_pointer = ir.IntType(8).as_pointer()
            element = context.get_value_type(tile_t.dtype)
            vector = ir.VectorType(element, lanes)
            align = tile_t.dtype.bitwidth // 8
            width = builder.extract_value(table.shape, 1)
            first = context.cast(builder, args[2], p_t, types.intp)
            end = context.cast(builder, args[3], e_t, types.intp)
            prefetch = cgutils.get_or_insert_function(
                builder.module, ir.FunctionType(ir.VoidType(), [byte_pointer, i32, i32, i32]), "llvm.prefetch.p0")
            zero = ir.Constant(vector, [ir.Constant(element, 0.0)] * lanes)
            sums = [cgutils.alloca_once_value(builder, zero) for _ in range(vectors)]  # promoted to registers
            with cgutils.for_range(builder, builder.sub(end, first)) as loop:
                q = builder.add(first, loop.index)
                ahead = builder.add(q, ir.Constant(i64, PREFETCH))
                last = builder.sub(end, ir.Constant(i64, 1))
                ahead = builder.select(builder.icmp_signed("<", ahead, end), ahead, last)
                later = builder.gep(table.data, [builder.mul(_index(builder, index.data, ahead), width)])
                row = builder.gep(table.data, [builder.mul(_index(builder, index.data, q), width)])
                for k in range(vectors):
                    offset = ir.Constant(i64, k * lanes)
                    builder.call(prefetch, [builder.bitcast(builder.gep(later, [offset]), byte_pointer),
                                            ir.Constant(i32, 0), ir.Constant(i32, 3), ir.Constant(i32, 1)])
                    pointer = builder.bitcast(builder.gep(row, [offset]), vector.as_pointer())
                    value = builder.load(pointer, align=align)
                    builder.store(builder.fadd(builder.load(sums[k]), value), sums[k])
            base = builder.gep(dst.data, [context.cast(builder, args[5], o0_t, types.intp)])
            for k in range(vectors):
                pointer = builder.bitcast(builder.gep(base, [ir.Constant(i64, k * lanes)]), vector.as_pointer())
                builder.store(builder.load(sums[k]), pointer, align=align)
            return context.get_dummy_value()

        return sig, codegen

    return sum_rows


#: ``sum_rows(tile, indices, p, e, out, o0)``: ``out[o0:o0 + width] = sum of tile[indices[q]] for q in [p, e)``,
#: in that order, for a C-contiguous ``(K, width)`` float32/float64 ``tile`` whose rows are :data:`TILE_BYTES`
#: (``sum_rows``) or 512 bytes (``sum_rows_512``, the recurrent kernel's tiles); ``indices`` C-contiguous integers
#: below K; ``out`` a C-contiguous 1-D array of the same dtype with ``o0 + width`` in bounds; nothing is checked.
#: The vector sums stay in registers, started at +0.0; the row ``indices[min(q + PREFETCH, e - 1)]`` is
#: prefetched while row ``indices[q]`` is added.
sum_rows = _sum_rows_of(TILE_BYTES // 64)
sum_rows_512 = _sum_rows_of(8)


@njit(inline="always", cache=True)
def _block(blk, bags, per_block, n, width):
    """Tile, first column and bag range of work block ``blk`` (tile-major: a tile's bag blocks in a row)."""
    count = (bags + per_block - 1) // per_block
    k = blk // count
    r0 = (blk % count) * per_block
    return k, min(k * width, n - width), r0, min(bags, r0 + per_block)


@njit(nogil=True, cache=True, error_model="numpy", boundscheck=False)
def gather_tiles(indptr, indices, tiles, out, per_block, b0, b1, bs):
    """Work blocks ``[b0, b1)`` (``bs`` is 1) of ``out[r] = sum of W^T[indices[p]]`` for ``p`` in
    ``[indptr[r], indptr[r+1])``, ``out`` ``(M, N)`` C-contiguous. ``tiles`` ``(ceil(N / width), K, width)``: tile
    ``k`` holds columns ``[c_k, c_k + width)`` of ``W^T`` with ``c_k = min(k * width, N - width)`` (the last tile
    ends at column N, overlapping the one before it: those columns are summed twice, the same sums, which two
    threads may store at once; needs ``N >= width``). Work block ``blk``: one tile and ``per_block`` bags,
    tile-major (:func:`work_blocks`)."""
    m, n = out.shape
    width = tiles.shape[2]
    flat = out.reshape(-1)
    for blk in range(b0, b1):
        k, c0, r0, r1 = _block(blk, m, per_block, n, width)
        tile = tiles[k]
        for r in range(r0, r1):
            sum_rows(tile, indices, indptr[r], indptr[r + 1], flat, r * n + c0)


@njit(nogil=True, cache=True, error_model="numpy", boundscheck=False)
def gather_tiles_t(indptr, indices, tiles, out_t, per_block, b0, b1, bs):
    """:func:`gather_tiles` into the transposed result: ``out_t[:, r]`` (``out_t`` ``(N, M)``, C-contiguous) is
    the sum of bag ``r`` (each tile's sums stored in a small buffer, then down their column)."""
    n, m = out_t.shape
    width = tiles.shape[2]
    sums = np.empty(width, tiles.dtype)
    for blk in range(b0, b1):
        k, c0, r0, r1 = _block(blk, m, per_block, n, width)
        tile = tiles[k]
        for r in range(r0, r1):
            sum_rows(tile, indices, indptr[r], indptr[r + 1], sums, 0)
            for i in range(width):
                out_t[c0 + i, r] = sums[i]


def work_blocks(bags: int, tiles: int, threads: int, per_block: int = 256) -> tuple[int, int]:
    """``(work blocks, bags per block)`` for :func:`gather_tiles`: blocks of at most ``per_block`` bags, smaller
    when there are too few bags for every thread to get four blocks of a tile (then the tiles are shared out)."""
    per_block = max(1, min(per_block, -(-bags * tiles // (4 * threads))))
    return tiles * -(-bags // per_block), per_block
