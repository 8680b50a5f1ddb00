"""Numba kernels that compress a sparse 2-D input for the event-driven linear layer.

``count_rows`` reads ``x`` (M, K) once, vectorised: the non-zeros of every row, whether every non-zero
is 1, and a bitmap of the non-zeros (``(M, ceil(K / 64))`` uint64, bit ``i`` of word ``w`` for
column ``64 w + i``: on a little-endian machine the same bytes as ``numpy.packbits(...,
bitorder="little")``). ``fill_csr`` turns the bitmap into CSR column indices (and, unless every
non-zero is 1, values read from ``x``), visiting only the set bits. ``csr_to_csc`` transposes that
structure with a counting sort (``O(nnz + K)``), giving for every input column the rows where it is
active; ``unpack_bits`` turns a bitmap back into 0/1 values (the weight gradient of a binary input
too dense to gather keeps only the bitmap). The gathers themselves are torch's ``embedding_bag``
(fbgemm kernels on CPU).
"""

from __future__ import annotations

import numpy as np
from numba import njit, uint64

__all__ = ["ROWS", "count_rows", "csr_to_csc", "fill_csr", "unpack_bits"]

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


@njit(nogil=True, cache=True, error_model="numpy")
def count_rows(x, counts, nonbinary, bits, b0, b1, bs):
    """Non-zeros per row into ``counts``, their bitmap into ``bits`` (see the module docstring);
    ``nonbinary[block] = 1`` if the block holds a value other than 0 or 1."""
    m, k = x.shape
    zero = x.dtype.type(0)
    one = x.dtype.type(1)
    full = k // 64
    for blk in range(b0, b1):
        flag = 0
        for r in range(blk * bs, min(m, blk * bs + bs)):
            row = x[r]
            out = bits[r]
            c = 0
            f = 0
            for w in range(full):
                word = uint64(0)
                for i in range(64):  # vectorised: an OR-reduction of shifted comparisons
                    v = row[64 * w + i]
                    word |= uint64(v != zero) << uint64(i)
                    c += v != zero
                    f |= (v != zero) & (v != one)
                out[w] = word
            if k % 64:
                word = uint64(0)
                for i in range(k % 64):
                    v = row[64 * full + i]
                    word |= uint64(v != zero) << uint64(i)
                    c += v != zero
                    f |= (v != zero) & (v != one)
                out[full] = word
            counts[r] = c
            flag |= f
        nonbinary[blk] = flag


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

