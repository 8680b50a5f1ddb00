"""Numba kernel of an event-driven recurrent LIF population (inference): ``I_t = x_t + W s_{t-1}``.

One kernel serves :class:`~neuro.layers.RecurrentLIF` and the LSM :class:`~neuro.models.lsm.Reservoir`;
``x`` is the input current of every step (both compute it beforehand, event-driven, in one pass).

A call simulates a block of samples in lockstep, one time step at a time. A recurrent matrix at least
:data:`DENSE_ROWS_ABOVE` dense is added as whole rows of the (pre, post) matrix, zeros included (adding 0
leaves a sum unchanged), by :func:`tiled_kernel`: the columns are cut into tiles of 512 bytes (:func:`tile_width`
postsynaptic neurons), stored tile-major (a tile of every row together, zero-padded past N), and for each tile
and sample the rows of the neurons that sample fired at the previous step are summed by
:func:`~neuro.backends._numba_gather.sum_rows_512` (an LLVM intrinsic: eight vector sums in registers, each row
read once, the rows to come prefetched; the tile is shared by all the samples of the block). A sparser matrix
keeps only its non-zero entries in CSC form (``colptr``, ``rows``, ``vals``; :func:`recurrent_kernel`): for each
neuron that spiked at the previous step in at least one sample, its fan-out is added through the list of those
samples when they are few, else as a masked add over the whole block (a vectorised loop over samples, the
recurrent input being stored neuron-major), so that every synapse read serves all the samples of the block.

Either kernel, at each step after the first, pulls the block's recurrent input instead when that takes less work
(:mod:`~neuro.backends._numba_columns`: each neuron's non-zero fan-in, stored by postsynaptic neuron, summed for
16 samples at a time by AVX-512 masked adds over bit masks of the samples that fired each presynaptic neuron;
every synapse once per step, whatever the firing rate): the rows' or fan-outs' work grows with the spikes of the
previous step, which is known then (:data:`ROW_VECTOR_COST`, :data:`FANOUT_ADD_COST`). W4 (1000 neurons, 10%
connected, 15% firing) pulls at every step. Per sample the sum runs over presynaptic neurons in ascending order
from +0.0 in every mode, so the result does not depend on the mode, the tile or the block size.

The membrane update is the LIF family's ``h = decay * v + leak + gain * (x + I_rec)`` with an immediate
reset (``reset``: 0 hard, 1 subtract, 2 none); ``c`` holds ``decay, leak, gain, v_threshold, v_reset``.
With ``record``, ``vs`` receives the membrane after the reset of every step.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable

import numpy as np
from numba import njit

from neuro.backends._buffers import empty_array
from neuro.backends._numba_columns import COLUMNS, VECTORS, column_stream, column_sums
from neuro.backends._numba_event import nonzero_indices
from neuro.backends._numba_gather import sum_rows_512
from neuro.backends._numba_lif import after_spike

__all__ = ["DENSE_ROWS_ABOVE", "DENSE_ROWS_BYTES", "FANOUT_ADD_COST", "LIST_BELOW", "ROW_VECTOR_COST", "TILE_BYTES",
           "recurrent_kernel", "run", "tile_width", "tiled_kernel", "tiles_of"]

#: A presynaptic neuron active in at most one sample in this many of the block uses the list of samples.
LIST_BELOW = 8

#: Recurrent matrices at least this dense add whole rows (zeros included: adding 0 leaves a sum unchanged, so
#: the result is the same), vectorised, instead of scattering the fan-out lists ...
DENSE_ROWS_ABOVE = 0.05
#: ... when their dense copy takes at most this many bytes (4096 float32 neurons).
DENSE_ROWS_BYTES = 64 << 20

#: Bytes of a tile's row on the dense path: eight 64-byte vectors (128 float32 neurons, 64 float64). W4's
#: recurrent kernel (1000 neurons, T = 300, B = 64, 15% firing) against the previous one (256-neuron tiles, each
#: sample's rows added eight at a time by a numba loop, the sums in L1), paired ratios of round-robin calls in one
#: process, identical spikes: 0.77, 0.85 and 0.90 in three runs of ``THP_MEM_ALLOC_ENABLE=1 PYTHONPATH=. python
#: experiments/w4_breakdown.py --repeats 15 --baseline <checkout of 55df7ed>`` (2026-11-28, the 2-core Intel
#: Xeon VM, 2 MiB L2 per core). Listing the neurons that fired by vector compression
#: (:func:`~neuro.backends._numba_event.nonzero_indices`) instead of a scalar loop: 0.97 of 87631bd's kernel (the
#: same command with ``--baseline``). The tile width and the prefetch distance were chosen in scratch prototypes
#: (256-byte and 1 KiB tiles, 4 or 16 rows ahead: no faster), not in a script of this repository.
TILE_BYTES = 512

#: At each step after the first, a block's recurrent input is pulled (:mod:`~neuro.backends._numba_columns`:
#: every synapse once, a masked vector add over the block's samples) when that is cheaper than the row path's
#: work for the spikes of the previous step, counted in the pull path's masked adds: a vector add of a tile row
#: on the dense path costs :data:`ROW_VECTOR_COST` of them, the add of one synapse into one sample on the sparse
#: path :data:`FANOUT_ADD_COST`. Chosen so that the choice follows ``experiments/w4_breakdown.py``'s timings of
#: each path forced (2026-11-28, the 2-core Intel Xeon VM, W4's reservoir): at W4's 15% firing the pull path took
#: 0.65 of the dense rows' time and 0.31 of the fan-out lists'; at 1% firing 2.07 times the rows' and 0.88 of the
#: lists' (at that rate the counts pick the rows on the dense path and the pull path on the sparse one).
ROW_VECTOR_COST = 2.0
FANOUT_ADD_COST = 8.0


def tile_width(dtype: np.dtype) -> int:
    """Postsynaptic neurons per tile of the dense path for ``dtype`` (float32 or float64)."""
    return TILE_BYTES // np.dtype(dtype).itemsize


@njit(inline="always", cache=True)
def _words(n, nb, lanes):
    """``(words per neuron, zeroed uint16 masks of N + 1 neurons)`` for a block of ``nb`` samples: one bit per
    sample (``lanes`` per word used), words padded to a multiple of ``VECTORS``; neuron N never fires."""
    vectors = (nb + lanes - 1) // lanes
    nw = (vectors + VECTORS - 1) // VECTORS * VECTORS
    return nw, np.zeros((n + 1) * nw, np.uint16)


@njit(inline="always", cache=True)
def _mark(words, fired, k, nw, q, lanes):
    """Set sample ``q``'s bit in the words of the neurons ``fired[:k]``."""
    bit = np.uint16(1 << (q % lanes))
    w = q // lanes
    for a in range(k):
        words[fired[a] * nw + w] |= bit


@njit(inline="always", cache=True)
def _pull(idx, val, gptr, words, nw, out, cols):
    """The pull path: every neuron's recurrent input for the block into ``out`` (neuron ``j``'s at
    ``out[j*cols:]``, sample ``q`` at ``+ q``) by :func:`~neuro.backends._numba_columns.column_sums`."""
    lanes = 64 // out.itemsize
    for g in range(gptr.shape[0] - 1):
        length = (gptr[g + 1] - gptr[g]) // COLUMNS
        for u in range(0, nw, VECTORS):
            column_sums(idx, val, gptr[g], length, words, u, nw, out, g * COLUMNS * cols + u * lanes, cols)


@functools.cache
def recurrent_kernel(reset: int, record: bool) -> Callable[..., None]:
    """``kernel(x, v0, s0, colptr, rows, vals, idx, val, gptr, push_cost, c, out, v_out, vs, tally, b0, b1, bs)``
    over samples ``[b0*bs, b1*bs)`` (one lockstep block per ``bs`` samples): the sparse path, the fan-outs being
    the CSC lists ``colptr``/``rows``/``vals``, or the pull path over the fan-in stream ``idx``/``val``/``gptr``
    (:func:`~neuro.backends._numba_columns.column_stream`) at the steps where a synapse added into a sample costs
    more than ``push_cost`` masked adds of it; ``tally[block]`` counts the steps pulled. ``x``/``out``/``vs`` are
    ``(T, B, N)``, ``v0``/``s0``/``v_out`` ``(B, N)``.
    """

    @njit(nogil=True, cache=True, error_model="numpy", boundscheck=False)
    def kernel(x, v0, s0, colptr, rows, vals, idx, val, gptr, push_cost, c, out, v_out, vs, tally, b0, b1, bs):
        t_len, batch, n = x.shape
        decay, leak, gain, vth, v_reset = c[0], c[1], c[2], c[3], c[4]
        zero = x.dtype.type(0)
        one = x.dtype.type(1)
        lanes = 64 // x.itemsize
        groups = gptr.shape[0] - 1
        for blk in range(b0, b1):
            lo = blk * bs
            nb = min(batch, lo + bs) - lo
            if nb <= 0:
                continue
            nw, words = _words(n, nb, lanes)
            pull_work = gptr[groups] * nw
            # recurrent input, neuron-major: a block's samples adjacent (rows and columns padded for the pull path)
            rec = np.empty((-(-n // COLUMNS) * COLUMNS, nw * lanes), x.dtype)
            flat = rec.reshape(-1)
            # spike value of neuron j in sample q at the previous step where listed in `where`, else 0 (zeroed on use)
            mask = np.zeros((n, nb), x.dtype)
            count = np.zeros(n, np.int64)  # samples where neuron j spiked at the previous step ...
            where = np.empty((n, nb), np.int64)  # ... and which
            v = np.empty((nb, n), x.dtype)
            fired_at = np.empty(n, np.int32)
            for q in range(nb):
                v[q] = v0[lo + q]
                for j in range(n):
                    if s0[lo + q, j] != zero:
                        mask[j, q] = s0[lo + q, j]
                        where[j, count[j]] = q
                        count[j] += 1
            for t in range(t_len):
                push_work = 0
                for j in range(n):
                    push_work += count[j] * (colptr[j + 1] - colptr[j])
                if t > 0 and push_work * push_cost > pull_work:  # every synapse once, for the whole block
                    _pull(idx, val, gptr, words, nw, flat, rec.shape[1])
                    tally[blk] += 1
                    for j in range(n):  # the fan-out lists go unused: cleared for the next step
                        for a in range(count[j]):
                            mask[j, where[j, a]] = zero
                        count[j] = 0
                else:
                    rec[:] = zero
                for j in range(n):
                    m = count[j]
                    if m == 0:
                        continue
                    wj = where[j]
                    mj = mask[j]
                    if m * LIST_BELOW <= nb:
                        for p in range(colptr[j], colptr[j + 1]):
                            rr = rec[rows[p]]
                            w = vals[p]
                            for a in range(m):
                                q = wj[a]
                                rr[q] += mj[q] * w
                    else:
                        for p in range(colptr[j], colptr[j + 1]):
                            rr = rec[rows[p]]
                            w = vals[p]
                            for q in range(nb):
                                rr[q] += mj[q] * w
                    for a in range(m):
                        mj[wj[a]] = zero
                    count[j] = 0
                words[:] = 0
                for q in range(nb):
                    xt = x[t, lo + q]
                    ot = out[t, lo + q]
                    vq = v[q]
                    for i in range(n):  # branch-free
                        h = decay * vq[i] + leak + gain * (xt[i] + rec[i, q])
                        fired = h - vth >= zero
                        vq[i] = after_spike(h, fired, vth, v_reset, reset)
                        ot[i] = one if fired else zero
                    k = nonzero_indices(ot, fired_at)  # the neurons that fired (vector compress)
                    for a in range(k):
                        i = fired_at[a]
                        mask[i, q] = one
                        where[i, count[i]] = q
                        count[i] += 1
                    _mark(words, fired_at, k, nw, q, lanes)
                    if record:
                        vs[t, lo + q] = vq
            for q in range(nb):
                v_out[lo + q] = v[q]

    return kernel


@functools.cache
def tiled_kernel(reset: int, record: bool) -> Callable[..., None]:
    """``kernel(x, v0, s0, wtiles, idx, val, gptr, row_cost, c, out, v_out, vs, tally, b0, b1, bs)`` over samples
    ``[b0*bs, b1*bs)``: the dense path. ``wtiles`` ``(tiles, N, width)`` (:func:`tiles_of`, ``width`` =
    :func:`tile_width`): tile ``k`` holds columns ``[k*width, (k+1)*width)`` of the ``(pre, post)`` matrix,
    zero-padded past ``N``. Each step, for each tile and sample, the tile's rows of the neurons the sample fired at
    the previous step (spikes are 1) are summed in ascending order into its recurrent input (at the first step the
    non-zero entries of ``s0``, multiplied in); or, at the steps where a vector add of a tile row costs more than
    ``row_cost`` masked adds, the block's input is pulled over the fan-in stream ``idx``/``val``/``gptr``
    (``tally[block]`` counts them); then every neuron is updated."""

    @njit(nogil=True, cache=True, error_model="numpy", boundscheck=False)
    def kernel(x, v0, s0, wtiles, idx, val, gptr, row_cost, c, out, v_out, vs, tally, b0, b1, bs):
        t_len, batch, n = x.shape
        tiles, width = wtiles.shape[0], wtiles.shape[2]
        padded = tiles * width
        decay, leak, gain, vth, v_reset = c[0], c[1], c[2], c[3], c[4]
        zero = x.dtype.type(0)
        one = x.dtype.type(1)
        lanes = 64 // x.itemsize
        groups = gptr.shape[0] - 1
        for blk in range(b0, b1):
            lo = blk * bs
            nb = min(batch, lo + bs) - lo
            if nb <= 0:
                continue
            fired = np.empty((nb, n), np.int32)  # the neurons each sample fired at the previous step, ascending ...
            count = np.zeros(nb, np.int64)  # ... and how many
            v = np.empty((nb, n), x.dtype)
            rec = np.zeros((nb, padded), x.dtype)  # recurrent input, sample-major, a whole number of tiles wide
            flat = rec.reshape(-1)
            nw, words = _words(n, nb, lanes)
            cols = nw * lanes
            pulled = np.empty(groups * COLUMNS * cols, x.dtype)  # the pull path's: neuron-major, `cols` per neuron
            pull_work = gptr[groups] * nw
            total = 0
            for q in range(nb):
                v[q] = v0[lo + q]
            for t in range(t_len):
                pull = t > 0 and total * tiles * (width // lanes) * row_cost > pull_work
                if pull:  # every synapse once, for the whole block
                    _pull(idx, val, gptr, words, nw, pulled, cols)
                    tally[blk] += 1
                for k in range(0 if pull else tiles):
                    tile = wtiles[k]
                    for q in range(nb):
                        if t == 0:
                            sq = s0[lo + q]
                            rq = rec[q]
                            for j in range(n):
                                if sq[j] != zero:
                                    row = tile[j]
                                    for i in range(width):
                                        rq[k * width + i] += sq[j] * row[i]
                        else:
                            sum_rows_512(tile, fired[q], 0, count[q], flat, q * padded + k * width)
                words[:] = 0
                total = 0
                for q in range(nb):
                    xt = x[t, lo + q]
                    ot = out[t, lo + q]
                    vq = v[q]
                    if pull:
                        for i in range(n):  # branch-free
                            h = decay * vq[i] + leak + gain * (xt[i] + pulled[i * cols + q])
                            spike = h - vth >= zero
                            vq[i] = after_spike(h, spike, vth, v_reset, reset)
                            ot[i] = one if spike else zero
                    else:
                        rq = rec[q]
                        for i in range(n):  # branch-free, vectorised
                            h = decay * vq[i] + leak + gain * (xt[i] + rq[i])
                            spike = h - vth >= zero
                            vq[i] = after_spike(h, spike, vth, v_reset, reset)
                            ot[i] = one if spike else zero
                    count[q] = nonzero_indices(ot, fired[q])  # the neurons that fired (vector compress)
                    total += count[q]
                    _mark(words, fired[q], count[q], nw, q, lanes)
                    if record:
                        vs[t, lo + q] = vq
            for q in range(nb):
                v_out[lo + q] = v[q]

    return kernel


def tiles_of(pre_post: np.ndarray, dtype: np.dtype, width: int) -> np.ndarray:
    """The ``(ceil(N / width), N_pre, width)`` tile-major copy of a ``(pre, post)`` matrix that :func:`tiled_kernel`
    reads, zero-padded past the last column."""
    n = pre_post.shape[1]
    tiles = -(-n // width)
    out = np.zeros((tiles, pre_post.shape[0], width), dtype)
    for k in range(tiles):
        part = pre_post[:, k * width:(k + 1) * width]
        out[k, :, :part.shape[1]] = part
    return out


#: ``(block steps pulled, block steps)`` of the last :func:`run` in this process (a diagnostic: how often the pull
#: path won; read by ``experiments/w4_breakdown.py`` and the tests).
last_pulls = (0, 0)


def _record_pulls(tally: np.ndarray, t_len: int) -> None:
    global last_pulls
    last_pulls = (int(tally.sum()), len(tally) * t_len)


def run(x: np.ndarray, v0: np.ndarray, s0: np.ndarray, weight_post_pre: np.ndarray | None, c: np.ndarray, reset: int,
        record: bool, threads: int) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Simulate on numpy arrays: ``(spikes (T, B, N), final v (B, N), membrane (T, B, N) or None)``.

    ``weight_post_pre``: the ``(N, N)`` recurrent matrix with row = postsynaptic neuron (``None``: none);
    ``threads``: the samples are split into this many lockstep blocks, run in parallel.
    """
    from neuro.backends._parallel import blocks, run_blocks

    t_len, batch, n = x.shape
    dtype = x.dtype
    pre_post = None if weight_post_pre is None else weight_post_pre.T  # row j: the synapses leaving neuron j
    if pre_post is None:
        idx, val, gptr = np.zeros(1, np.int32), np.zeros(1, dtype), np.zeros(1, np.int64)
    else:
        idx, val, gptr = column_stream(weight_post_pre, dtype)
    synapses = np.count_nonzero(val) if pre_post is not None else 0  # the stream's padding has weight 0
    dense = pre_post is not None and synapses >= DENSE_ROWS_ABOVE * n * n and n * n * dtype.itemsize <= DENSE_ROWS_BYTES
    out = empty_array((t_len, batch, n), dtype)  # a reused block (see _buffers)
    v_out = np.empty_like(v0)
    vs = np.empty((t_len, batch, n), dtype) if record else np.empty((1, 1, 1), dtype)
    bs = max(1, blocks(batch, max(1, threads)))
    tally = np.zeros(-(-batch // bs), np.int64)  # steps pulled, per block
    # the pull path's mask words count samples from their lowest bit, which is lane 0 on little-endian machines only
    row_cost, fanout_cost = (ROW_VECTOR_COST, FANOUT_ADD_COST) if sys.byteorder == "little" else (0.0, 0.0)
    if dense:
        wtiles = tiles_of(pre_post, dtype, tile_width(dtype))
        run_blocks(tiled_kernel(reset, record), batch, bs, x, v0, s0, wtiles, idx, val, gptr, row_cost, c,
                   out, v_out, vs, tally, work=x.size)
        _record_pulls(tally, t_len)
        return out, v_out, vs if record else None
    colptr, rows, vals = np.zeros(n + 1, np.int64), np.zeros(1, np.int64), np.zeros(1, dtype)
    if pre_post is not None:
        pre, post = np.nonzero(pre_post)  # row-major: each neuron's fan-out, ascending
        np.cumsum(np.bincount(pre, minlength=n), out=colptr[1:])
        rows, vals = post.astype(np.int64), pre_post[pre, post].astype(dtype)
    run_blocks(recurrent_kernel(reset, record), batch, bs, x, v0, s0, colptr, rows, vals, idx, val, gptr,
               fanout_cost, c, out, v_out, vs, tally, work=x.size)
    _record_pulls(tally, t_len)
    return out, v_out, vs if record else None
