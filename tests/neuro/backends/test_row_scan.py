"""The event layers' input scan (count_rows): counts, binary flag and bitmap against numpy, in float and integer
dtypes, with the vector-compare words and with the element loop, on row lengths around the 64-column words."""

from __future__ import annotations

import numpy as np
import pytest

from neuro.backends import _numba_event as nk


def _scan(kernel, a: np.ndarray) -> tuple[np.ndarray, bool, np.ndarray]:
    m, k = a.shape
    counts = np.empty(m, dtype=np.int64)
    nonbinary = np.zeros(-(-m // 4), dtype=np.int64)
    bits = np.empty((m, (k + 63) // 64), dtype=np.uint64)
    kernel(a, counts, nonbinary, bits, 0, nonbinary.shape[0], 4)
    return counts, bool(nonbinary.any()), bits


def _expected(a: np.ndarray) -> tuple[np.ndarray, bool, np.ndarray]:
    nz = a != 0
    words = -(-a.shape[1] // 64)
    packed = np.packbits(nz, axis=1, bitorder="little")
    packed = np.pad(packed, ((0, 0), (0, 8 * words - packed.shape[1])))
    bits = packed.view("<u8").astype(np.uint64)
    return nz.sum(axis=1), bool((nz & (a != 1)).any()), bits


@pytest.mark.parametrize("kernel", [nk.count_rows, nk.count_rows_scalar])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32, np.uint8])
@pytest.mark.parametrize("k", [1, 63, 64, 65, 128, 200])
def test_scan_matches_numpy(kernel, dtype, k):
    rng = np.random.default_rng(k)
    a = (rng.random((13, k)) < 0.3).astype(dtype)
    got = _scan(kernel, a)
    want = _expected(a)
    assert np.array_equal(got[0], want[0]) and got[1] is False and np.array_equal(got[2], want[2])
    a[5, k - 1] = 2  # a graded value in the last column: no longer binary
    got = _scan(kernel, a)
    assert got[1] is True and np.array_equal(got[0], _expected(a)[0])


@pytest.mark.parametrize("kernel", [nk.count_rows, nk.count_rows_scalar])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_nan_counts_as_a_graded_non_zero_and_negative_zero_as_zero(kernel, dtype):
    a = np.zeros((3, 130), dtype=dtype)
    a[0, 3] = np.nan
    a[1, 70] = -0.0
    a[2, 129] = 1.0
    counts, nonbinary, bits = _scan(kernel, a)
    assert counts.tolist() == [1, 0, 1] and nonbinary
    assert bits[0, 0] == 1 << 3 and bits[1].sum() == 0 and bits[2, 2] == 1 << 1


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [1, 7, 8, 15, 16, 17, 100, 1000])
def test_nonzero_indices_match_flatnonzero(dtype, n):
    """The recurrent kernels' fired lists: whole vectors compressed (16 float32, 8 float64 lanes), the tail one by
    one; NaN counts as non-zero, -0.0 as zero."""
    from numba import njit

    @njit
    def indices(row, out):
        return nk.nonzero_indices(row, out)

    rng = np.random.default_rng(n)
    for density in (0.0, 0.15, 1.0):
        row = (rng.random(n) < density).astype(dtype)
        row[rng.random(n) < 0.1] = -0.0
        if n > 3:
            row[3] = np.nan
        out = np.full(n, -1, np.int32)
        m = indices(row, out)
        want = np.flatnonzero(row != 0)
        assert m == len(want) and np.array_equal(out[:m], want)
