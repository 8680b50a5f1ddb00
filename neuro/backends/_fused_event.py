"""The event-driven linear operation: ``y = x W^T + b`` from the non-zero inputs only.

Forward: compress ``x`` (M, K) to CSR and sum, for every row, the rows of ``W^T`` selected by its
active inputs — for a binary input neuro's tiled kernel (:mod:`neuro.backends._numba_gather`, where a
256-byte-wide tile of the table fits in half of L2: :func:`tiled`), else ``F.embedding_bag(indices, W^T,
offsets, mode="sum")``, whose CPU kernels (fbgemm) are built for this gather. Weight gradient: the same
gather on the transposed structure, ``dW^T[k] = sum of dy[r] over the rows r where input k is active``.
Both cost ``nnz x N`` additions instead of ``M x K x N`` multiply-adds; the input gradient, when needed, is
the dense ``dy @ W``.

Saved for backward: the compressed input (``int32`` offsets and indices, ``int64`` beyond 2^31
entries, values only when the input is not binary) instead of the dense float input. A binary input
too dense to gather (spike tensors of hidden layers) runs as a GEMM and is kept as one bit per element
(the bitmap :func:`row_counts` makes while counting); its weight gradient is the dense ``dy^T x`` of the
unpacked bits. Either way the float spikes are freed after the forward pass. The forward gather pays at higher
densities than the weight gradient's (fbgemm's gather against oneDNN's GEMM, and the gradient's gather reads
``dy`` rows scattered over memory): between the two thresholds a binary input is gathered forward and its
weight gradient computed from the bits.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import torch
from torch import Tensor
from torch.nn import functional as F

from neuro.backends import _buffers
from neuro.backends import _numba_event as nk
from neuro.backends import _numba_gather as ng
from neuro.backends._buffers import empty
from neuro.backends._parallel import blocks, run_blocks

__all__ = ["Csr", "RowScan", "currents", "event_linear", "input_grad", "row_counts", "shared_input_linear", "to_csr",
           "unpack"]


class RowScan(NamedTuple):
    """What :func:`row_counts` found in a 2-D input: non-zeros per row, whether every non-zero is 1, and the
    bitmap of the non-zeros (``(M, ceil(K / 64))`` uint64, see :mod:`neuro.backends._numba_event`)."""

    counts: np.ndarray
    binary: bool
    bits: np.ndarray


def row_counts(x: Tensor) -> RowScan:
    """Non-zeros per row of a contiguous 2-D CPU tensor, whether it is binary, and its bitmap (one parallel pass)."""
    a = x.detach().numpy()
    m, k = a.shape
    counts = np.empty(m, dtype=np.int64)
    nonbinary = np.zeros(blocks(m, nk.ROWS), dtype=np.int64)
    bits = np.empty((m, (k + 63) // 64), dtype=np.uint64)
    run_blocks(nk.count_rows, m, nk.ROWS, a, counts, nonbinary, bits, work=m * k)
    return RowScan(counts, not nonbinary.any(), bits)


def to_csr(x: Tensor, scanned: RowScan) -> tuple[Tensor, Tensor, Tensor | None]:
    """``(offsets (M+1), indices (nnz), values (nnz) or None)`` of ``x`` given its :func:`row_counts`."""
    a = x.detach().numpy()
    m, k = a.shape
    counts, binary, bits = scanned
    nnz = int(counts.sum())
    index = np.int32 if max(nnz, k) < 2**31 else np.int64  # int32 halves what backward keeps
    indptr = np.zeros(m + 1, dtype=index)
    np.cumsum(counts, out=indptr[1:])
    indices = np.empty(nnz, dtype=index)
    values = np.empty(nnz if not binary else 1, dtype=a.dtype)
    run_blocks(nk.fill_csr, m, nk.ROWS, bits, a, indptr, indices, values, not binary, work=nnz + m * bits.shape[1])
    return torch.from_numpy(indptr), torch.from_numpy(indices), None if binary else torch.from_numpy(values)


def _to_csc(indptr: Tensor, indices: Tensor, values: Tensor | None, k: int
            ) -> tuple[Tensor, Tensor, Tensor | None]:
    nnz = indices.shape[0]
    index = np.int32 if max(nnz, indptr.shape[0]) < 2**31 else np.int64
    colptr = np.empty(k + 1, dtype=index)
    rows = np.empty(nnz, dtype=index)
    store = values is not None
    vals = values.numpy() if store else np.empty(1, dtype=np.float32)
    col_values = np.empty(nnz if store else 1, dtype=vals.dtype)
    nk.csr_to_csc(indptr.numpy(), indices.numpy(), vals, store, k, colptr, rows, col_values)
    return torch.from_numpy(colptr), torch.from_numpy(rows), torch.from_numpy(col_values) if store else None


#: Table columns per gather: a (rows x 64) float32 slice of a few-thousand-row table stays in L2, where a
#: whole 512-column table would be re-read from L3 for every bag (1.4x faster on the W1 layer, measured).
COLUMNS = 64


def l2_bytes(default: int = 512 << 10, root: str = "/sys/devices/system/cpu/cpu0/cache") -> int:
    """Bytes of the first CPU's level-2 data cache as Linux reports it under ``root``, else ``default``."""
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    for index in range(8):
        fields = {}
        for name in ("level", "type", "size"):
            try:
                with open(f"{root}/index{index}/{name}") as f:
                    fields[name] = f.read().strip()
            except OSError:
                break
        size = fields.get("size", "")
        if fields.get("level") != "2" or fields.get("type") not in ("Data", "Unified"):
            continue
        if size[-1:] in units and size[:-1].isdigit():
            return int(size[:-1]) * units[size[-1]]
        if size.isdigit():
            return int(size)
    return default


#: Tables up to a quarter of L2 are gathered whole, in one call: they stay in L2 beside the rows being summed,
#: and every column block costs a call and a copy of its result into the output; tables up to half of L2 too
#: when at most :data:`WHOLE_COLUMNS` wide. Measured on a 2-core Intel Xeon VM (AVX-512, 2 MiB L2 per core),
#: 8192 bags, float32 (``PYTHONPATH=. python experiments/gather_columns.py``, 2026-11-27): a 256 x 256 table at
#: 1% / 3% / 25% input density took 1.34 / 1.27 / 6.84 ms whole against 3.35 / 3.06 / 7.60 ms in 64-column
#: blocks, 1024 x 256 at 3% 2.69 against 4.49 ms; 256 x 1024 and 2312 x 256 (1-2 MiB) and 1024 x 1024 (3%:
#: 22.3 against 18.1 ms) were faster in blocks.
_L2 = l2_bytes()
WHOLE_TABLE_BYTES = _L2 // 4
WHOLE_NARROW_BYTES = _L2 // 2
WHOLE_COLUMNS = 256


def whole_table(rows: int, columns: int, itemsize: int, bags: int) -> bool:
    """Whether :func:`_gather` gathers a ``(rows, columns)`` table into ``bags`` sums in one call rather than in
    column blocks: a small table, and a result that glibc's heap recycles (below the buffer pool's
    :data:`~neuro.backends._buffers.MIN_BYTES`; a larger one, from torch, would be faulted in afresh every call,
    where the blocks write into the pool's reused buffer)."""
    size = rows * columns * itemsize
    small = (columns <= 2 * COLUMNS or size <= WHOLE_TABLE_BYTES
             or (columns <= WHOLE_COLUMNS and size <= WHOLE_NARROW_BYTES))
    return small and bags * columns * itemsize < _buffers.MIN_BYTES


def _rows(table: Tensor) -> Tensor:
    """``table`` itself when its rows are contiguous, else a contiguous copy (a slice of a transposed weight).
    (torch 2.13's embedding_bag copies a column slice of a wider table itself before gathering: a slice with
    contiguous rows is not read in place.)"""
    return table if table.stride(1) == 1 else table.contiguous()


def _gather(indices: Tensor, table: Tensor, offsets: Tensor, values: Tensor | None, transposed: bool = False
            ) -> Tensor:
    """``out[b] = sum_p values[p] * table[indices[p]]`` for ``p`` in bag ``b`` (``offsets`` has one extra end).

    ``table`` may be any 2-D view (e.g. ``weight.t()``): only the column slices are made contiguous, when
    their rows are not. ``transposed``: return ``out.t()`` as a contiguous tensor, each column block written
    transposed into it (a weight gradient in the weight's own layout, without a transposed copy of the
    whole result afterwards)."""
    if whole_table(table.shape[0], table.shape[1], table.element_size(), offsets.shape[0] - 1):
        out = F.embedding_bag(indices, _rows(table), offsets[:-1], mode="sum", per_sample_weights=values)
        return out.t().contiguous() if transposed else out
    if values is None and tiled(table):
        return _gather_tiles(indices, table, offsets, transposed)
    return _gather_blocks(indices, table, offsets, values, transposed)


def tiled(table: Tensor) -> bool:
    """Whether a binary gather from ``table`` runs on neuro's tiled kernel (:func:`_gather_tiles`) rather than
    ``embedding_bag`` in column blocks: float32 or float64, at least one tile wide, and a tile (the table's rows x
    256 bytes) within half of L2. Measured on the 2-core Intel Xeon VM (2 MiB L2; ``THP_MEM_ALLOC_ENABLE=1
    PYTHONPATH=. python experiments/gather_tiles.py``, 2026-11-28, 03:25 UTC), paired ratios tiled / blocks: W4's
    input projection (2312 rows) 0.73, W1's hidden layer forward (2312 rows) 0.73 and weight gradient (3200 rows)
    0.85; W5's weight gradients (8192 rows, 2 MiB tiles) 0.97-1.00 (1.01-1.14 in earlier runs): left to
    ``embedding_bag``."""
    width = ng.tile_columns(table.element_size())
    return (table.dtype in (torch.float32, torch.float64) and table.shape[1] >= width
            and table.shape[0] * ng.TILE_BYTES <= _L2 // 2)


def _gather_tiles(indices: Tensor, table: Tensor, offsets: Tensor, transposed: bool = False) -> Tensor:
    """:func:`_gather` of a binary input (no values) by :func:`neuro.backends._numba_gather.gather_tiles`: ``table``
    copied into tiles of 256-byte rows, every bag summed tile by tile straight into its row of the result (its
    column with ``transposed``: :func:`~neuro.backends._numba_gather.gather_tiles_t`)."""
    table = table.detach()
    k, n = table.shape
    width = ng.tile_columns(table.element_size())
    count = -(-n // width)
    tiles = empty((count, k, width), table.dtype)
    full = n // width  # the whole tiles in one copy (a strided view of them all: faster than one copy per tile)
    step, stride = table.stride()
    tiles[:full].copy_(table.as_strided((full, k, width), (width * stride, step, stride), table.storage_offset()))
    if full < count:
        tiles[full].copy_(table[:, n - width:])  # the last tile ends at column n
    bags = offsets.shape[0] - 1
    out = empty((n, bags) if transposed else (bags, n), table.dtype)
    work, per_block = ng.work_blocks(bags, count, torch.get_num_threads())
    run_blocks(ng.gather_tiles_t if transposed else ng.gather_tiles, work, 1, offsets.contiguous().numpy(),
               indices.contiguous().numpy(), tiles.numpy(), out.numpy(), per_block, work=indices.shape[0] * n)
    return out


def _gather_blocks(indices: Tensor, table: Tensor, offsets: Tensor, values: Tensor | None, transposed: bool = False
                   ) -> Tensor:
    """:func:`_gather` in blocks of :data:`COLUMNS` columns of ``table``, whatever its size."""
    n = table.shape[1]
    bags = offsets.shape[0] - 1
    out = empty((n, bags) if transposed else (bags, n), table.dtype)
    for n0 in range(0, n, COLUMNS):
        part = F.embedding_bag(indices, _rows(table[:, n0:n0 + COLUMNS]), offsets[:-1], mode="sum",
                               per_sample_weights=values)
        if transposed:
            out[n0:n0 + COLUMNS] = part.t()
        else:
            out[:, n0:n0 + COLUMNS] = part
    return out


Csr = tuple[Tensor, Tensor, Tensor | None]


def currents(csr: Csr, table: Tensor, bias: Tensor | None) -> Tensor:
    """``y = x W^T + b`` of the rows in ``csr`` (:func:`to_csr`; ``table`` is ``W^T``), a new ``(rows, N)`` tensor."""
    offsets, indices, values = csr
    y = _gather(indices, table, offsets, values)
    if bias is not None:
        y += bias.detach()
    return y


def input_grad(gy: Tensor, weight: Tensor) -> Tensor:
    """``gy @ weight`` (the input gradient of ``x W^T``) into a new tensor from the buffer pool: a gradient of
    32 MiB or more (W5's 8192 x 1024 MLP input) reuses a block instead of faulting fresh pages in every step."""
    return torch.mm(gy, weight, out=empty((gy.shape[0], weight.shape[1]), gy.dtype))


def _dense(x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
    """``x W^T + b`` as a GEMM into a new tensor from the buffer pool (see :func:`input_grad`)."""
    out = empty((x.shape[0], weight.shape[0]), x.dtype)
    if bias is None:
        return torch.mm(x, weight.t(), out=out)
    return torch.addmm(bias, x, weight.t(), out=out)


def unpack(bits: np.ndarray, k: int, dtype: torch.dtype) -> Tensor:
    """The ``(M, k)`` 0/1 tensor of a :func:`row_counts` bitmap."""
    out = empty((bits.shape[0], k), dtype)
    run_blocks(nk.unpack_bits, bits.shape[0], nk.ROWS, bits, out.numpy(), work=out.numel())
    return out


#: Elements of the input unpacked at a time for the weight gradient (a 4 MB float32 slice, not the whole input).
UNPACKED = 1 << 20


def _packed_weight_grad(gy: Tensor, bits: np.ndarray, k: int) -> Tensor:
    """``dy^T x`` with ``x`` unpacked from ``bits`` a slice of rows at a time."""
    return _packed_weight_grads([gy], bits, k)[0]


class _PackedLinear(torch.autograd.Function):
    """``x W^T + b`` for an input too dense for the event-driven weight gradient: a binary input is kept for that
    gradient as its bitmap (1/32 of the float input; int32 CSR would take 4 bytes per spike) and unpacked for
    ``dy^T x`` (a graded one comes here only when the weight needs no gradient). The forward pass is a GEMM, or
    the gather when ``gather`` (an input still sparse enough for it)."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, weight: Tensor, bias: Tensor | None, scanned: RowScan, gather: bool) -> Tensor:
        ctx.bits = scanned.bits if weight.requires_grad else None
        ctx.k, ctx.has_bias = x.shape[1], bias is not None
        ctx.save_for_backward(weight)
        if not gather:
            return _dense(x, weight.detach(), None if bias is None else bias.detach())
        return currents(to_csr(x, scanned), weight.detach().t(), bias)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, gy: Tensor) -> tuple[Tensor | None, ...]:
        (weight,) = ctx.saved_tensors
        need = ctx.needs_input_grad
        gy = gy.contiguous()
        gx = input_grad(gy, weight) if need[0] else None
        gw = _packed_weight_grad(gy, ctx.bits, ctx.k) if need[1] else None
        gb = gy.sum(0) if ctx.has_bias and need[2] else None
        ctx.bits = None
        return gx, gw, gb, None, None


class _EventLinear(torch.autograd.Function):
    """Gather forward; the input is saved as CSR for the weight gradient's gather."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, weight: Tensor, bias: Tensor | None, scanned: RowScan) -> Tensor:
        ctx.csr = to_csr(x, scanned)
        y = currents(ctx.csr, weight.detach().t(), bias)  # (M, N)
        ctx.k = x.shape[1]
        ctx.save_for_backward(weight)
        ctx.has_bias = bias is not None
        return y

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, gy: Tensor) -> tuple[Tensor | None, ...]:
        (weight,) = ctx.saved_tensors
        gy = gy.contiguous()
        gx = input_grad(gy, weight) if ctx.needs_input_grad[0] else None
        gw = None
        if ctx.needs_input_grad[1]:
            colptr, rows, col_values = _to_csc(*ctx.csr, ctx.k)
            gw = _gather(rows, gy, colptr, col_values, transposed=True)  # (N, K)
        gb = gy.sum(0) if ctx.has_bias and ctx.needs_input_grad[2] else None
        return gx, gw, gb, None


class _SharedInputLinear(torch.autograd.Function):
    """Several linear layers on one input (the query, key and value projections of a spiking transformer): the input
    is scanned and compressed once, each layer's forward gathers (or multiplies) it, and the backward builds the
    transposed structure (or unpacks the bits) once for all the weight gradients and sums the input gradients into
    one buffer. ``params`` is ``(w_1, b_1, w_2, b_2, ...)``, a bias ``None`` where absent."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, scanned: RowScan, event: bool, gather: bool, *params: Tensor | None
                ) -> tuple[Tensor, ...]:
        weights, biases = params[0::2], params[1::2]
        csr = to_csr(x, scanned) if event or gather else None
        ctx.csr = csr if event else None
        ctx.bits = scanned.bits if not event and any(w.requires_grad for w in weights) else None
        ctx.rows, ctx.k = x.shape
        ctx.has_bias = [b is not None for b in biases]
        ctx.set_materialize_grads(False)  # an output left out of the loss: None, no zero-filled gradient
        ctx.save_for_backward(*weights)
        if csr is not None:
            return tuple(currents(csr, w.detach().t(), b) for w, b in zip(weights, biases, strict=True))
        return tuple(_dense(x, w.detach(), None if b is None else b.detach()) for w, b in zip(weights, biases,
                                                                                         strict=True))

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, *grads: Tensor | None) -> tuple[Tensor | None, ...]:
        weights = ctx.saved_tensors
        need = ctx.needs_input_grad
        gys = [None if g is None else g.contiguous() for g in grads]
        gx = None
        if need[0]:
            for gy, w in zip(gys, weights, strict=True):
                if gy is None:
                    continue
                if gx is None:
                    gx = input_grad(gy, w)
                else:
                    gx.addmm_(gy, w)
            if gx is None:
                gx = weights[0].new_zeros(ctx.rows, ctx.k)
        out: list[Tensor | None] = []
        csc = None
        wanted = [need[4 + 2 * i] and gy is not None for i, gy in enumerate(gys)]
        if ctx.csr is not None and any(wanted):
            csc = _to_csc(*ctx.csr, ctx.k)
        packed = None
        if ctx.csr is None and any(wanted):
            packed = _packed_weight_grads([gy for gy, want in zip(gys, wanted, strict=True) if want], ctx.bits, ctx.k)
        for i, gy in enumerate(gys):
            gw = None
            if wanted[i]:
                if csc is not None:
                    colptr, rows, col_values = csc
                    gw = _gather(rows, gy, colptr, col_values, transposed=True)
                else:
                    gw = packed.pop(0)
            gb = gy.sum(0) if gy is not None and ctx.has_bias[i] and need[5 + 2 * i] else None
            out += [gw, gb]
        ctx.csr = ctx.bits = None
        return (gx, None, None, None, *out)


def _packed_weight_grads(gys: list[Tensor], bits: np.ndarray, k: int) -> list[Tensor]:
    """``dy_i^T x`` for every ``dy_i``, ``x`` unpacked from ``bits`` once, a slice of rows at a time."""
    step = max(1, UNPACKED // k)
    gws = [gy.new_zeros(gy.shape[1], k) for gy in gys]
    for r0 in range(0, gys[0].shape[0], step):
        x = unpack(bits[r0:r0 + step], k, gys[0].dtype)
        for gw, gy in zip(gws, gys, strict=True):
            gw.addmm_(gy[r0:r0 + step].t(), x)
    return gws


def shared_input_linear(x: Tensor, params: list[tuple[Tensor, Tensor | None]], max_density: float,
                        max_forward_density: float | None = None) -> tuple[Tensor, ...] | None:
    """``x @ w_i.T + b_i`` for every ``(w_i, b_i)`` of ``params`` with ``x`` scanned and compressed once (see
    :class:`_SharedInputLinear`), choosing the path by density as :func:`event_linear` does; ``None`` where that
    function would give ``None`` (the callers' GEMMs)."""
    x = x.contiguous()
    scanned = row_counts(x)
    nnz = scanned.counts.sum()
    flat = [t for pair in params for t in pair]
    if nnz <= max_density * x.numel():
        return _SharedInputLinear.apply(x, scanned, True, True, *flat)
    gather = max_forward_density is not None and nnz <= max_forward_density * x.numel()
    training = torch.is_grad_enabled() and any(w.requires_grad for w, _ in params)
    if training and not scanned.binary:
        return None
    if training or gather:
        return _SharedInputLinear.apply(x, scanned, False, gather, *flat)
    return None


def event_linear(x: Tensor, weight: Tensor, bias: Tensor | None, max_density: float = 1.0,
                 max_forward_density: float | None = None) -> Tensor | None:
    """``x @ weight.T + bias`` for a 2-D ``x``, or ``None`` (the caller's plain GEMM).

    Up to ``max_density`` non-zeros the forward pass and the weight gradient gather. Up to
    ``max_forward_density`` (default ``None``: no such band) only the forward pass does: the weight gradient, when
    needed, is the GEMM of the input kept as bits, so a graded input gets ``None`` then. A denser binary input
    whose weight needs a gradient runs as a GEMM, kept as bits; anything else gets ``None``."""
    x = x.contiguous()
    scanned = row_counts(x)
    nnz = scanned.counts.sum()
    if nnz <= max_density * x.numel():
        return _EventLinear.apply(x, weight, bias, scanned)
    gather = max_forward_density is not None and nnz <= max_forward_density * x.numel()
    training = weight.requires_grad and torch.is_grad_enabled()
    if training and not scanned.binary:
        return None  # a graded input for the weight gradient: autograd keeps it for the GEMM
    if training or gather:
        return _PackedLinear.apply(x, weight, bias, scanned, gather)
    return None
