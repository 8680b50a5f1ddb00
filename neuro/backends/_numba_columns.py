"""The recurrent kernel's pull path: each postsynaptic neuron's input summed over its synapses, for a block of
samples at once, by masked vector adds.

The non-zero synapses are stored by postsynaptic neuron (:func:`column_stream`): neurons in groups of
:data:`COLUMNS`, each group's fan-in lists (presynaptic neurons ascending) padded to the group's longest with
synapses from a dummy neuron that never fires and interleaved, so that the group's neurons are summed together
and the vector sums of :data:`COLUMNS` neurons x :data:`VECTORS` sample vectors (eight chains of adds, enough to
hide the add latency) stay in registers. Which samples fired a presynaptic neuron at the previous step is a bit
mask per 16 samples (``uint16`` words, one neuron's words adjacent; bit ``l`` is lane ``l`` on little-endian
machines, the only ones ``_numba_recurrent`` pulls on); a synapse's weight is added to the lanes of
those samples (:func:`column_sums`, an AVX-512 masked add; without AVX-512 LLVM emits blends instead: the same
sums, not timed). The work is the same at any firing rate: every synapse once per step and block, where the row
path's work grows with the spikes; ``_numba_recurrent`` chooses between them at each step. The group width and
the vectors per call were chosen in a scratch prototype on W4's reservoir (2, 4 and 8 neurons per group of two
vectors took about the same time), not by a script of this repository.

Per sample, the sum runs over the presynaptic neurons in ascending order from +0.0, as on the row path (which
adds zeros where there is no synapse: the same sums).
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

from neuro.backends._numba_event import nonzero_indices

__all__ = ["COLUMNS", "VECTORS", "column_stream", "column_sums", "lanes_of"]

#: Postsynaptic neurons summed together (one group of the stream).
COLUMNS = 4
#: Sample vectors (64 bytes each) summed per call of :func:`column_sums`; the mask words of a neuron are padded
#: to a multiple of this.
VECTORS = 2


def lanes_of(dtype: np.dtype) -> int:
    """Samples per 64-byte vector (and per mask word used): 16 float32, 8 float64."""
    return 64 // np.dtype(dtype).itemsize


def column_stream(post_pre: np.ndarray, dtype: np.dtype) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(idx int32, val, gptr int64)`` of a ``(post, pre)`` matrix (taken as ``dtype``): group ``g`` (postsynaptic
    neurons ``[g*COLUMNS, (g+1)*COLUMNS)``) is ``idx/val[gptr[g]:gptr[g+1]]``, entry ``k * COLUMNS + c`` being the
    ``k``-th synapse onto neuron ``g*COLUMNS + c`` (presynaptic neurons ascending); past a neuron's last synapse
    (and for the neurons past N of the last group) the entries are ``(N_pre, 0)``: the dummy neuron."""
    post_pre = np.ascontiguousarray(post_pre, dtype=dtype)
    n, n_pre = post_pre.shape
    lengths = np.zeros(-(-n // COLUMNS) * COLUMNS, np.int64)
    found = np.empty(n_pre, np.int32)
    _count(post_pre, lengths, found)
    gptr = np.zeros(len(lengths) // COLUMNS + 1, np.int64)
    np.cumsum(lengths.reshape(-1, COLUMNS).max(axis=1) * COLUMNS, out=gptr[1:])
    idx = np.full(gptr[-1], n_pre, np.int32)
    val = np.zeros(gptr[-1], dtype)
    _fill(post_pre, gptr, idx, val, found)
    return idx, val, gptr


@njit(nogil=True, cache=True, boundscheck=False)
def _count(post_pre, lengths, found):
    """Each row's non-zeros (vector compression: :func:`~neuro.backends._numba_event.nonzero_indices`)."""
    for j in range(post_pre.shape[0]):
        lengths[j] = nonzero_indices(post_pre[j], found)


@njit(nogil=True, cache=True, boundscheck=False)
def _fill(post_pre, gptr, idx, val, found):
    """The synapses of :func:`column_stream` into their entries (one pass over the matrix)."""
    for j in range(post_pre.shape[0]):
        e = gptr[j // COLUMNS] + j % COLUMNS
        row = post_pre[j]
        for a in range(nonzero_indices(row, found)):
            i = found[a]
            idx[e + a * COLUMNS] = i
            val[e + a * COLUMNS] = row[i]


@intrinsic
def column_sums(typingctx, idx, val, start, length, words, w0, wstride, out, o0, ostride):
    """``column_sums(idx, val, start, length, words, w0, wstride, out, o0, ostride)``: for ``c < COLUMNS`` and
    ``v < VECTORS``, ``out[o0 + c*ostride + v*lanes:][:lanes]`` = per lane ``l`` the sum, over ``k < length`` in
    order, of ``val[e]`` (``e = start + k*COLUMNS + c``) where bit ``l`` of ``words[idx[e]*wstride + w0 + v]`` is
    set (from +0.0). ``idx`` int32, ``val``/``out`` float32 (16 lanes) or float64 (8 lanes, the words' low byte),
    ``words`` uint16, all C-contiguous 1-D; nothing is checked."""
    arrays = (idx, val, words, out)
    if not (all(isinstance(a, types.Array) and a.ndim == 1 and a.layout == "C" for a in arrays)
            and idx.dtype == types.int32 and words.dtype == types.uint16
            and val.dtype in (types.float32, types.float64) and out.dtype == val.dtype
            and all(isinstance(a, types.Integer) for a in (start, length, w0, wstride, o0, ostride))):
        return None
    lanes = 16 if val.dtype == types.float32 else 8
    sig = types.none(idx, val, start, length, words, w0, wstride, out, o0, ostride)

    def codegen(context, builder, sig, args):
        def integer(k):
            return context.cast(builder, args[k], sig.args[k], types.intp)

        idx_a, val_a, words_a, out_a = (context.make_array(sig.args[k])(context, builder, value=args[k])
                                        for k in (0, 1, 4, 7))
        i32, i64 = ir.IntType(32), ir.IntType(64)
        element = context.get_value_type(sig.args[1].dtype)
        vector = ir.VectorType(element, lanes)
        mask_type = ir.VectorType(ir.IntType(1), lanes)
        start_, length_, w0_, wstride_, o0_, ostride_ = (integer(k) for k in (2, 3, 5, 6, 8, 9))
        zero = ir.Constant(vector, [ir.Constant(element, 0.0)] * lanes)
        splat = ir.Constant(ir.VectorType(i32, lanes), [0] * lanes)
        sums = [[cgutils.alloca_once_value(builder, zero) for _ in range(VECTORS)] for _ in range(COLUMNS)]
        with cgutils.for_range(builder, length_) as loop:
            e0 = builder.add(start_, builder.mul(loop.index, ir.Constant(i64, COLUMNS)))
            for c in range(COLUMNS):
                e = builder.add(e0, ir.Constant(i64, c))
                pre = builder.sext(builder.load(builder.gep(idx_a.data, [e])), i64)
                weight = builder.insert_element(ir.Constant(vector, ir.Undefined),
                                                builder.load(builder.gep(val_a.data, [e])), ir.Constant(i32, 0))
                weight = builder.shuffle_vector(weight, ir.Constant(vector, ir.Undefined), splat)
                word0 = builder.add(builder.mul(pre, wstride_), w0_)
                for v in range(VECTORS):
                    bits = builder.load(builder.gep(words_a.data, [builder.add(word0, ir.Constant(i64, v))]))
                    if lanes < 16:
                        bits = builder.trunc(bits, ir.IntType(lanes))
                    mask = builder.bitcast(bits, mask_type)
                    total = builder.load(sums[c][v])
                    builder.store(builder.select(mask, builder.fadd(total, weight), total), sums[c][v])
        base = builder.gep(out_a.data, [o0_])
        for c in range(COLUMNS):
            column = builder.gep(base, [builder.mul(ostride_, ir.Constant(i64, c))])
            for v in range(VECTORS):
                pointer = builder.bitcast(builder.gep(column, [ir.Constant(i64, v * lanes)]), vector.as_pointer())
                builder.store(builder.load(sums[c][v]), pointer, align=sig.args[1].dtype.bitwidth // 8)
        return context.get_dummy_value()

    return sig, codegen
