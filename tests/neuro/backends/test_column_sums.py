"""The recurrent kernel's pull path: the fan-in stream's layout and the masked column sums, against numpy."""

import numpy as np
import pytest

pytest.importorskip("numba")


def _matrix(rng, n_post, n_pre, p, dtype):
    return (rng.normal(0, 1, (n_post, n_pre)) * (rng.random((n_post, n_pre)) < p)).astype(dtype)


@pytest.mark.parametrize("n_post", [1, 4, 7, 13])
def test_column_stream_layout(n_post):
    """Group g holds neurons [4g, 4g+4) interleaved, each neuron's synapses in ascending presynaptic order, padded
    with (N_pre, 0) to the group's longest fan-in."""
    from neuro.backends._numba_columns import COLUMNS, column_stream

    rng = np.random.default_rng(n_post)
    w = _matrix(rng, n_post, 9, 0.4, np.float32)
    w[0] = 0.0  # a neuron with no synapses at all
    idx, val, gptr = column_stream(w, np.float32)
    groups = -(-n_post // COLUMNS)
    assert gptr.shape == (groups + 1,) and gptr[0] == 0 and idx.dtype == np.int32 and val.dtype == np.float32
    for g in range(groups):
        block_i = idx[gptr[g]:gptr[g + 1]].reshape(-1, COLUMNS)
        block_v = val[gptr[g]:gptr[g + 1]].reshape(-1, COLUMNS)
        longest = 0
        for c in range(COLUMNS):
            j = g * COLUMNS + c
            row = w[j] if j < n_post else np.zeros(9, np.float32)  # past N: no synapses
            pre = np.flatnonzero(row)
            longest = max(longest, len(pre))
            assert np.array_equal(block_i[:len(pre), c], pre)
            assert np.array_equal(block_v[:len(pre), c], row[pre])
            assert (block_i[len(pre):, c] == 9).all() and (block_v[len(pre):, c] == 0).all()
        assert len(block_i) == longest


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("samples", [1, 16, 37])
def test_pulled_sums_equal_ascending_sums_over_the_samples_that_fired(dtype, samples):
    """Every neuron's input for every sample: the sum, in ascending presynaptic order from +0.0, of the weights of
    the synapses from neurons that sample fired (bit masks), bit for bit; lanes past the block's samples are 0."""
    from numba import njit

    from neuro.backends._numba_columns import COLUMNS, VECTORS, column_stream, lanes_of
    from neuro.backends._numba_recurrent import _pull, _words

    @njit(cache=False)
    def pull(idx, val, gptr, fired, out, n_pre, nb, lanes):
        nw, words = _words(n_pre, nb, lanes)
        for i in range(n_pre):
            for q in range(nb):
                if fired[q, i]:
                    words[i * nw + q // lanes] |= np.uint16(1 << (q % lanes))
        _pull(idx, val, gptr, words, nw, out, nw * lanes)
        return nw

    rng = np.random.default_rng(samples)
    n_post, n_pre = 11, 30
    w = _matrix(rng, n_post, n_pre, 0.5, dtype)
    fired = rng.random((samples, n_pre)) < 0.3
    idx, val, gptr = column_stream(w, np.dtype(dtype))
    lanes = lanes_of(np.dtype(dtype))
    vectors = -(-samples // lanes)
    width = -(-vectors // VECTORS) * VECTORS * lanes  # sums per neuron: whole calls of VECTORS vectors
    out = np.full(-(-n_post // COLUMNS) * COLUMNS * width, np.nan, dtype)
    nw = pull(idx, val, gptr, fired, out, n_pre, samples, lanes)
    assert nw * lanes == width
    got = out.reshape(-1, width)
    for j in range(n_post):
        for q in range(width):
            expected = np.zeros((), dtype)
            if q < samples:
                for i in range(n_pre):
                    if fired[q, i] and w[j, i] != 0:
                        expected = expected + w[j, i]
            assert got[j, q] == expected, (j, q, got[j, q], expected)
