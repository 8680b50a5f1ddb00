"""Numba kernels that compress a sparse 2-D input for the event-driven linear layer.

``count_rows`` then ``fill_csr`` turn ``x`` (M, K) into CSR (row pointers, column indices and,
unless every non-zero is 1, values) in two parallel passes; ``csr_to_csc`` transposes that
structure with a counting sort (``O(nnz + K)``), giving for every input column the rows where it
is active. ``pack_bits``/``unpack_bits`` keep a binary input denser than the gathers pay for as one bit
per element (``numpy.packbits`` order, ``bitorder="little"``) until the weight gradient needs it. The
gathers themselves are torch's ``embedding_bag`` (fbgemm kernels on CPU).
"""

from __future__ import annotations

from numba import njit

__all__ = ["ROWS", "count_rows", "csr_to_csc", "fill_csr", "pack_bits", "unpack_bits"]

#: Rows per parallel block.
ROWS = 256


@njit(nogil=True, cache=True, error_model="numpy")
def count_rows(x, counts, nonbinary, b0, b1, bs):
    """Non-zeros per row into ``counts``; ``nonbinary[block] = 1`` if the block holds a value other than 0 or 1."""
    m, k = x.shape
    zero = x.dtype.type(0)
    one = x.dtype.type(1)
    for blk in range(b0, b1):
        flag = 0
        for r in range(blk * bs, min(m, blk * bs + bs)):
            row = x[r]
            c = 0
            f = 0
            for j in range(k):
                v = row[j]
                c += v != zero
                f |= (v != zero) & (v != one)
            counts[r] = c
            flag |= f
        nonbinary[blk] = flag


@njit(nogil=True, cache=True, error_model="numpy")
def fill_csr(x, indptr, indices, values, store_values, b0, b1, bs):
    """Column indices (and values) of the non-zeros of each row, from ``indptr[row]`` on."""
    m, k = x.shape
    zero = x.dtype.type(0)
    for r in range(b0 * bs, min(m, b1 * bs)):
        row = x[r]
        p = indptr[r]
        for j in range(k):
            v = row[j]
            if v != zero:
                indices[p] = j
                if store_values:
                    values[p] = v
                p += 1


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


@njit(nogil=True, cache=True, error_model="numpy")
def pack_bits(x, bits, b0, b1, bs):
    """``bits[r, b]`` bit ``i`` = ``x[r, 8 b + i] != 0`` for the rows of blocks ``[b0, b1)``."""
    m, k = x.shape
    zero = x.dtype.type(0)
    for r in range(b0 * bs, min(m, b1 * bs)):
        row = x[r]
        out = bits[r]
        for b in range(k // 8):
            byte = 0
            for i in range(8):
                byte |= (row[8 * b + i] != zero) << i
            out[b] = byte
        if k % 8:
            byte = 0
            for i in range(k % 8):
                byte |= (row[k - k % 8 + i] != zero) << i
            out[k // 8] = byte


@njit(nogil=True, cache=True, error_model="numpy")
def unpack_bits(bits, out, b0, b1, bs):
    """The inverse of :func:`pack_bits`: ``out[r, j]`` = 1 or 0 (``out`` ``(M, K)``, any float dtype)."""
    m, k = out.shape
    for r in range(b0 * bs, min(m, b1 * bs)):
        row = bits[r]
        dst = out[r]
        for j in range(k):
            dst[j] = (row[j >> 3] >> (j & 7)) & 1
