"""Numba kernel of an event-driven recurrent LIF population (inference): ``I_t = x_t + W s_{t-1}``.

One kernel serves :class:`~neuro.layers.RecurrentLIF` and the LSM :class:`~neuro.models.lsm.Reservoir`;
``x`` is the input current of every step (both compute it beforehand, event-driven, in one pass).

A call simulates a block of samples in lockstep, one time step at a time, so that every synapse read
serves all the samples of the block. For each neuron that spiked at the previous step in at least one
sample, its fan-out is added to the recurrent input of the samples where it spiked. A recurrent matrix at
least :data:`DENSE_ROWS_ABOVE` dense adds the neuron's whole row of the (pre, post) matrix, vectorised, to
each such sample (zeros included: adding 0 leaves a sum unchanged). A sparser one keeps only its non-zero
entries in CSC form (``colptr``, ``rows``, ``vals``) and adds them through the list of those samples when
they are few, else as a masked add over the whole block (a vectorised loop over samples, the recurrent
input being stored neuron-major). Per sample the sum runs over presynaptic neurons in ascending order in
every mode, so the result does not depend on the mode or the block size.

The membrane update is the LIF family's ``h = decay * v + leak + gain * (x + I_rec)`` with an immediate
reset (``reset``: 0 hard, 1 subtract, 2 none); ``c`` holds ``decay, leak, gain, v_threshold, v_reset``.
With ``record``, ``vs`` receives the membrane after the reset of every step.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np
from numba import njit

from neuro.backends._buffers import empty_array
from neuro.backends._numba_lif import after_spike

__all__ = ["DENSE_ROWS_ABOVE", "DENSE_ROWS_BYTES", "LIST_BELOW", "recurrent_kernel", "run"]

#: A presynaptic neuron active in at most one sample in this many of the block uses the list of samples.
LIST_BELOW = 8

#: Recurrent matrices at least this dense add whole rows (zeros included: adding 0 leaves a sum unchanged, so
#: the result is the same), vectorised, instead of scattering the fan-out lists ...
DENSE_ROWS_ABOVE = 0.05
#: ... when their dense copy takes at most this many bytes (4096 float32 neurons).
DENSE_ROWS_BYTES = 64 << 20


@functools.cache
def recurrent_kernel(reset: int, record: bool, dense: bool = False) -> Callable[..., None]:
    """``kernel(x, v0, s0, colptr, rows, vals, wt, c, out, v_out, vs, b0, b1, bs)`` over samples ``[b0*bs, b1*bs)``
    (one lockstep block per ``bs`` samples). ``x``/``out``/``vs`` are ``(T, B, N)``, ``v0``/``s0``/``v_out``
    ``(B, N)``. ``dense``: the fan-outs are the rows of ``wt`` (the ``(N, N)`` transposed recurrent matrix,
    zeros included), added whole to each spiking sample's recurrent input (stored sample-major); else the CSC
    lists ``colptr``/``rows``/``vals``.
    """

    @njit(nogil=True, cache=True, error_model="numpy", boundscheck=False)
    def kernel(x, v0, s0, colptr, rows, vals, wt, c, out, v_out, vs, b0, b1, bs):
        t_len, batch, n = x.shape
        decay, leak, gain, vth, v_reset = c[0], c[1], c[2], c[3], c[4]
        zero = x.dtype.type(0)
        one = x.dtype.type(1)
        for blk in range(b0, b1):
            lo = blk * bs
            nb = min(batch, lo + bs) - lo
            if nb <= 0:
                continue
            # recurrent input: sample-major (dense rows) or neuron-major (a block's samples adjacent, for masked adds)
            rec = np.empty((nb, n) if dense else (n, nb), x.dtype)
            # spike value of neuron j in sample q at the previous step where listed in `where`, else 0 (zeroed on use)
            mask = np.zeros((nb, n) if dense else (n, nb), x.dtype)
            count = np.zeros(n, np.int64)  # samples where neuron j spiked at the previous step ...
            where = np.empty((n, nb), np.int64)  # ... and which
            v = np.empty((nb, n), x.dtype)
            fired_at = np.empty(n, np.int64)
            for q in range(nb):
                v[q] = v0[lo + q]
                for j in range(n):
                    if s0[lo + q, j] != zero:
                        if dense:
                            mask[q, j] = s0[lo + q, j]
                        else:
                            mask[j, q] = s0[lo + q, j]
                        where[j, count[j]] = q
                        count[j] += 1
            for t in range(t_len):
                rec[:] = zero
                for j in range(n):
                    m = count[j]
                    if m == 0:
                        continue
                    wj = where[j]
                    if dense:  # a vectorised add of the whole row per sample
                        row = wt[j]
                        for a in range(m):
                            q = wj[a]
                            sq = mask[q, j]
                            mask[q, j] = zero
                            rq = rec[q]
                            for i in range(n):
                                rq[i] += sq * row[i]
                        count[j] = 0
                        continue
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
                for q in range(nb):
                    xt = x[t, lo + q]
                    ot = out[t, lo + q]
                    vq = v[q]
                    for i in range(n):  # branch-free (vectorised over contiguous rows when dense)
                        h = decay * vq[i] + leak + gain * (xt[i] + (rec[q, i] if dense else rec[i, q]))
                        fired = h - vth >= zero
                        vq[i] = after_spike(h, fired, vth, v_reset, reset)
                        ot[i] = one if fired else zero
                    k = 0
                    for i in range(n):  # the neurons that fired, compacted without a branch
                        fired_at[k] = i
                        k += ot[i] != zero
                    for a in range(k):
                        i = fired_at[a]
                        if dense:
                            mask[q, i] = one
                        else:
                            mask[i, q] = one
                        where[i, count[i]] = q
                        count[i] += 1
                    if record:
                        vs[t, lo + q] = vq
            for q in range(nb):
                v_out[lo + q] = v[q]

    return kernel


def run(x: np.ndarray, v0: np.ndarray, s0: np.ndarray, weight_post_pre: np.ndarray | None, c: np.ndarray, reset: int,
        record: bool, threads: int) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Simulate on numpy arrays: ``(spikes (T, B, N), final v (B, N), membrane (T, B, N) or None)``.

    ``weight_post_pre``: the ``(N, N)`` recurrent matrix with row = postsynaptic neuron (``None``: none);
    ``threads``: the samples are split into this many lockstep blocks, run in parallel.
    """
    from neuro.backends._parallel import blocks, run_blocks

    t_len, batch, n = x.shape
    dtype = x.dtype
    wt = np.zeros((1, 1), dtype)
    colptr, rows, vals = np.zeros(n + 1, np.int64), np.zeros(1, np.int64), np.zeros(1, dtype)
    pre_post = None if weight_post_pre is None else weight_post_pre.T  # row j: the synapses leaving neuron j
    dense = (pre_post is not None and np.count_nonzero(pre_post) >= DENSE_ROWS_ABOVE * n * n
             and n * n * dtype.itemsize <= DENSE_ROWS_BYTES)
    if dense:
        wt = np.ascontiguousarray(pre_post, dtype=dtype)
    elif pre_post is not None:
        pre, post = np.nonzero(pre_post)  # row-major: each neuron's fan-out, ascending
        np.cumsum(np.bincount(pre, minlength=n), out=colptr[1:])
        rows, vals = post.astype(np.int64), pre_post[pre, post].astype(dtype)
    out = empty_array((t_len, batch, n), dtype)  # a reused block (see _buffers)
    v_out = np.empty_like(v0)
    vs = np.empty((t_len, batch, n), dtype) if record else np.empty((1, 1, 1), dtype)
    bs = max(1, blocks(batch, max(1, threads)))
    run_blocks(recurrent_kernel(reset, record, dense), batch, bs, x, v0, s0, colptr, rows, vals, wt, c, out, v_out,
               vs, work=x.size)
    return out, v_out, vs if record else None
