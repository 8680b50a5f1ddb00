"""Numba kernels that compress a sparse 2-D input for the event-driven linear layer.

``count_rows`` reads ``x`` (M, K) once, vectorised: the non-zeros of every row, whether every non-zero
is 1, and a bitmap of the non-zeros (``(M, ceil(K / 64))`` uint64, bit ``i`` of word ``w`` for
column ``64 w + i``: on a little-endian machine the same bytes as ``numpy.packbits(...,
bitorder="little")``). For float32 and float64 each 64-column word is made by :func:`_masks64`, an LLVM
intrinsic that compares whole vectors with 0 and 1 and turns the comparison masks into bits
(``vcmpps``/``kmov`` on AVX-512), and counted by ``ctpop``; other dtypes (and the columns after the last
whole word) take a loop that ORs shifted comparisons, which LLVM vectorises less well:
``count_rows_scalar`` is that loop for every column, kept for comparison. On the 2-core Intel Xeon VM
the word intrinsic took the scan of W4's input (19200 x 2312 float32, 2% non-zero) from 15.5 to 11.5 ms (a
``Tensor.sum`` of it: 8.6 ms), W1's (3200 x 2312, 5%) from 2.9 to 2.2 ms and W5's MLP hidden spikes (8192 x
1024, 3%) from 3.5 to 2.5 ms (``THP_MEM_ALLOC_ENABLE=1 PYTHONPATH=. python experiments/row_scan.py``,
2026-11-28). ``fill_csr`` turns the bitmap into CSR column indices (and, unless every non-zero is 1, values
read from ``x``), visiting only the set bits. ``csr_to_csc`` transposes that structure with a counting sort
(``O(nnz + K)``), giving for every input column the rows where it is active; ``nonzero_indices`` lists a row's
non-zeros (the recurrent kernels' spiking neurons) by compressing vectors of indices (``vpcompressd`` on
AVX-512); ``unpack_bits`` turns a bitmap back into 0/1 values (the weight gradient of a binary input too dense
to gather keeps only the bitmap). The gathers themselves are :mod:`neuro.backends._numba_gather`'s tiled kernel
for binary inputs (where a tile fits in L2) and torch's ``embedding_bag`` (fbgemm kernels on CPU) otherwise.
"""

from __future__ import annotations

import sys

import numpy as np
from llvmlite import ir
from numba import njit, types, uint64
from numba.core import cgutils
from numba.extending import intrinsic, overload

__all__ = ["ROWS", "count_rows", "count_rows_scalar", "csr_to_csc", "fill_csr", "nonzero_indices", "unpack_bits"]

#: Rows per parallel block.
ROWS = 256

#: De Bruijn sequence and table of the lowest set bit's index (portable count of trailing zeros).
_DE_BRUIJN = 0x03F79D71B4CB0A89
_LOWEST_BIT = np.zeros(64, dtype=np.int64)
for _i in range(64):
    _LOWEST_BIT[((_DE_BRUIJN << _i) & 0xFFFFFFFFFFFFFFFF) >> 58] = _i


@njit(inline="always", cache=True)
def _lowest_bit(word, table):
    """Index of the lowest set bit of a non-zero uint64."""
    return table[((word & (~word + uint64(1))) * uint64(_DE_BRUIJN)) >> uint64(58)]


def _mask_bits(builder: ir.IRBuilder, mask: ir.Value, lanes: int) -> ir.Value:
    """A ``<lanes x i1>`` comparison mask as the low bits of an i64 (lane ``i`` in bit ``i``, little-endian)."""
    return builder.zext(builder.bitcast(mask, ir.IntType(lanes)), ir.IntType(64))


@intrinsic
def _masks64(typingctx, row, start):
    """``(nonzero, other)``: uint64 bitmaps of ``row[start:start + 64]`` (a C-contiguous float32 or float64 row,
    64 elements from ``start`` in bounds) — bit ``i`` set where element ``start + i`` is not 0 (NaN included, as
    ``v != 0``), and where it is neither 0 nor 1. Whole-vector loads and comparisons, the masks' bits taken as
    integers (LLVM: ``fcmp une`` on ``<16 x float>`` / ``<8 x double>``, ``bitcast`` of the ``<n x i1>``)."""
    if not (isinstance(row, types.Array) and row.ndim == 1 and row.layout == "C"
            and row.dtype in (types.float32, types.float64) and isinstance(start, types.Integer)):
        return None
    lanes = 16 if row.dtype == types.float32 else 8
    sig = types.UniTuple(types.uint64, 2)(row, start)

    def codegen(context, builder, sig, args):
        array_type, start_type = sig.args
        ary = context.make_array(array_type)(context, builder, value=args[0])
        element = context.get_value_type(array_type.dtype)
        vector = ir.VectorType(element, lanes)
        i64 = ir.IntType(64)
        zero = ir.Constant(vector, [ir.Constant(element, 0.0)] * lanes)
        one = ir.Constant(vector, [ir.Constant(element, 1.0)] * lanes)
        base = builder.gep(ary.data, [context.cast(builder, args[1], start_type, types.intp)])
        nonzero = other = ir.Constant(i64, 0)
        for part in range(64 // lanes):
            pointer = builder.bitcast(builder.gep(base, [ir.Constant(i64, part * lanes)]), vector.as_pointer())
            v = builder.load(pointer, align=array_type.dtype.bitwidth // 8)
            nz = builder.fcmp_unordered("!=", v, zero)
            odd = builder.and_(nz, builder.fcmp_unordered("!=", v, one))
            shift = ir.Constant(i64, part * lanes)
            nonzero = builder.or_(nonzero, builder.shl(_mask_bits(builder, nz, lanes), shift))
            other = builder.or_(other, builder.shl(_mask_bits(builder, odd, lanes), shift))
        return context.make_tuple(builder, sig.return_type, [nonzero, other])

    return sig, codegen


@intrinsic
def _popcount(typingctx, word):
    """Set bits of a uint64 (LLVM ``ctpop``)."""
    if word != types.uint64:
        return None

    def codegen(context, builder, sig, args):
        return builder.ctpop(args[0])

    return types.uint64(word), codegen


@intrinsic
def _compress_full(typingctx, row, out):
    """Indices of the non-zeros (``v != 0``, NaN included) among the first ``len(row) // lanes * lanes`` elements
    of a C-contiguous float32/float64 ``row``, written ascending to the int32 array ``out`` from 0 (room for them
    all assumed); returns how many. Per vector (16 float32, 8 float64): a whole-vector ``fcmp une`` with 0 and a
    ``llvm.masked.compressstore`` of the lanes' indices (``vpcompressd`` on AVX-512)."""
    if not (isinstance(row, types.Array) and row.ndim == 1 and row.layout == "C"
            and row.dtype in (types.float32, types.float64)
            and isinstance(out, types.Array) and out.ndim == 1 and out.layout == "C" and out.dtype == types.int32):
        return None
    lanes = 16 if row.dtype == types.float32 else 8
    sig = types.intp(row, out)

    def codegen(context, builder, sig, args):
        row_type, out_type = sig.args
        src = context.make_array(row_type)(context, builder, value=args[0])
        dst = context.make_array(out_type)(context, builder, value=args[1])
        i1, i32, i64 = ir.IntType(1), ir.IntType(32), ir.IntType(64)
        element = context.get_value_type(row_type.dtype)
        vector, indices, mask_type = ir.VectorType(element, lanes), ir.VectorType(i32, lanes), ir.VectorType(i1, lanes)
        store = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.VoidType(), [indices, i32.as_pointer(), mask_type]),
            f"llvm.masked.compressstore.v{lanes}i32")
        zero = ir.Constant(vector, [ir.Constant(element, 0.0)] * lanes)
        iota = ir.Constant(indices, [ir.Constant(i32, i) for i in range(lanes)])
        count = cgutils.alloca_once_value(builder, ir.Constant(i64, 0))
        full = builder.udiv(builder.extract_value(src.shape, 0), ir.Constant(i64, lanes))
        with cgutils.for_range(builder, full) as loop:
            start = builder.mul(loop.index, ir.Constant(i64, lanes))
            pointer = builder.bitcast(builder.gep(src.data, [start]), vector.as_pointer())
            nonzero = builder.fcmp_unordered("!=", builder.load(pointer, align=row_type.dtype.bitwidth // 8), zero)
            first = builder.insert_element(ir.Constant(indices, ir.Undefined), builder.trunc(start, i32),
                                           ir.Constant(i32, 0))
            spread = builder.shuffle_vector(first, ir.Constant(indices, ir.Undefined),
                                            ir.Constant(indices, [ir.Constant(i32, 0)] * lanes))
            m = builder.load(count)
            builder.call(store, [builder.add(spread, iota), builder.gep(dst.data, [m]), nonzero])
            builder.store(builder.add(m, builder.ctpop(_mask_bits(builder, nonzero, lanes))), count)
        return builder.load(count)

    return sig, codegen


@njit(inline="always", cache=True, error_model="numpy")
def nonzero_indices(row, out):
    """Ascending int32 indices of the non-zeros of a C-contiguous 1-D float32/float64 ``row`` into ``out`` (at least
    ``len(row)`` long), returning how many: whole vectors by :func:`_compress_full`, the rest one by one."""
    n = row.shape[0]
    lanes = 64 // row.itemsize
    m = _compress_full(row, out)
    for i in range(n // lanes * lanes, n):
        out[m] = i
        m += row[i] != 0
    return m


@njit(inline="always", cache=True, error_model="numpy")
def _scalar_word(row, start, length, zero, one):
    """``(nonzero bitmap, non-zero count, any value other than 0/1)`` of ``row[start:start + length]``, one element
    at a time (an OR-reduction of shifted comparisons, which LLVM vectorises)."""
    word = uint64(0)
    c = 0
    f = 0
    for i in range(length):
        v = row[start + i]
        word |= uint64(v != zero) << uint64(i)
        c += v != zero
        f |= (v != zero) & (v != one)
    return word, c, f


@njit(cache=True, error_model="numpy")
def _scalar_words(row, out, full):
    """The first ``full`` bitmap words of ``row`` into ``out``: ``(non-zeros, any value other than 0/1)``."""
    zero = row.dtype.type(0)
    one = row.dtype.type(1)
    c = 0
    f = 0
    for w in range(full):
        word, n, g = _scalar_word(row, 64 * w, 64, zero, one)
        out[w] = word
        c += n
        f |= g
    return c, f


def _words(row, out, full):
    """:func:`_scalar_words` with :func:`_masks64` where it applies (chosen by dtype when numba compiles)."""
    raise NotImplementedError("only called from numba-compiled code")


@overload(_words, inline="always")
def _words_impl(row, out, full):
    # the masks' bits count from the lowest in memory order on a little-endian machine only
    if not (row.layout == "C" and row.dtype in (types.float32, types.float64) and sys.byteorder == "little"):
        return lambda row, out, full: _scalar_words(row, out, full)

    def vector(row, out, full):
        c = 0
        other = uint64(0)
        for w in range(full):
            word, odd = _masks64(row, 64 * w)
            out[w] = word
            c += _popcount(word)
            other |= odd
        return c, 1 if other != uint64(0) else 0

    return vector


@njit(cache=True, error_model="numpy")
def _vector_words(row, out, full):
    """:func:`_words` as a compiled function, which :func:`_count_block` takes as an argument (the overloaded
    stub cannot be passed itself)."""
    return _words(row, out, full)


@njit(inline="always", cache=True, error_model="numpy")
def _count_block(x, counts, bits, lo, hi, words):
    """:func:`count_rows` of rows ``[lo, hi)`` with ``words`` for the whole 64-column words; whether any of the
    rows holds a value other than 0 or 1."""
    k = x.shape[1]
    zero = x.dtype.type(0)
    one = x.dtype.type(1)
    full = k // 64
    flag = 0
    for r in range(lo, hi):
        row = x[r]
        out = bits[r]
        c, f = words(row, out, full)
        if k % 64:
            word, n, g = _scalar_word(row, 64 * full, k % 64, zero, one)
            out[full] = word
            c += n
            f |= g
        counts[r] = c
        flag |= f
    return flag


@njit(nogil=True, cache=True, error_model="numpy")
def count_rows(x, counts, nonbinary, bits, b0, b1, bs):
    """Non-zeros per row into ``counts``, their bitmap into ``bits`` (see the module docstring);
    ``nonbinary[block] = 1`` if the block holds a value other than 0 or 1."""
    m = x.shape[0]
    for blk in range(b0, b1):
        nonbinary[blk] = _count_block(x, counts, bits, blk * bs, min(m, blk * bs + bs), _vector_words)


@njit(nogil=True, cache=True, error_model="numpy")
def count_rows_scalar(x, counts, nonbinary, bits, b0, b1, bs):
    """:func:`count_rows` with the element-by-element loop for every word, whatever the dtype (for comparison)."""
    m = x.shape[0]
    for blk in range(b0, b1):
        nonbinary[blk] = _count_block(x, counts, bits, blk * bs, min(m, blk * bs + bs), _scalar_words)


@njit(nogil=True, cache=True, error_model="numpy")
def fill_csr(bits, x, indptr, indices, values, store_values, b0, b1, bs):
    """Column indices (and values, read from ``x``) of the non-zeros of each row, from ``indptr[row]`` on,
    visiting the set bits of the row's bitmap only."""
    m = indptr.shape[0] - 1
    table = _LOWEST_BIT
    for r in range(b0 * bs, min(m, b1 * bs)):
        row = bits[r]
        p = indptr[r]
        for w in range(row.shape[0]):
            word = row[w]
            while word:
                j = 64 * w + _lowest_bit(word, table)
                indices[p] = j
                if store_values:
                    values[p] = x[r, j]
                p += 1
                word &= word - uint64(1)


@njit(nogil=True, cache=True, error_model="numpy")
def unpack_bits(bits, out, b0, b1, bs):
    """``out[r, j]`` = bit ``j`` of row ``r`` of a :func:`count_rows` bitmap, as 1 or 0 (``out`` ``(M, K)``)."""
    m, k = out.shape
    full = k // 64
    for r in range(b0 * bs, min(m, b1 * bs)):
        row = bits[r]
        dst = out[r]
        for w in range(full):  # word by word, so that the shifts of one word vectorise
            word = row[w]
            for i in range(64):
                dst[64 * w + i] = (word >> uint64(i)) & uint64(1)
        if k % 64:
            word = row[full]
            for i in range(k % 64):
                dst[64 * full + i] = (word >> uint64(i)) & uint64(1)


@njit(nogil=True, cache=True)
def csr_to_csc(indptr, indices, values, store_values, k, colptr, rows, col_values):
    """For each column its rows (ascending) and values: ``colptr`` (K+1), ``rows`` and ``col_values`` (nnz)."""
    m = indptr.shape[0] - 1
    colptr[:] = 0
    for p in range(indptr[m]):
        colptr[indices[p] + 1] += 1
    for c in range(k):
        colptr[c + 1] += colptr[c]
    fill = colptr[:k].copy()
    for r in range(m):
        for p in range(indptr[r], indptr[r + 1]):
            c = indices[p]
            q = fill[c]
            rows[q] = r
            if store_values:
                col_values[q] = values[p]
            fill[c] = q + 1

