"""A reuse pool for the large CPU buffers the fused kernels write (spikes, gradients, currents).

A fresh buffer of several MB costs its page faults the first time it is written: on the shared 2-core VM
this project is measured on, often several times the kernel's own work (``experiments/fresh_memory.py``).
glibc hands blocks of 32 MiB and more (above its largest mmap threshold) back to the system on ``free``, so
the next step faults them in again (``experiments/buffer_pool.py``: W3's forward + backward, 268 MB buffers,
took 122-138 ms without this pool and 92-99 ms with it in three series; see the README). :func:`empty` instead keeps the
blocks it made and hands one out again once no tensor uses it any more. Smaller blocks glibc reuses itself
(:data:`MIN_BYTES`).

How "no tensor uses it" is known: a block is a numpy array and the tensor is ``torch.from_numpy`` of a view of
it; every tensor sharing that storage (views, tensors saved by autograd, a stolen ``.grad``) keeps one reference
to the array through the storage's deleter, so the array's reference count is back to the pool's own exactly
when the storage is gone. A block is handed out only then, under a lock (safe across threads).

Only outputs that their producer overwrites entirely come from here (the fused kernels' outputs, the event layers'
gathered currents, GEMM results and input gradients); the contents of a reused block are the previous user's
(like ``torch.empty``). Free blocks are kept up to :func:`cache_limit` bytes (default 1 GiB,
``NEURO_CPU_BUFFER_CACHE_MB`` or :func:`set_cache_limit`; 0 turns the pool off), checked at every hand-out (blocks
freed since stay until the next one); the oldest free blocks go first, :func:`empty_cache` drops them all. Tensors
from here cannot be resized in place (numpy memory). The same limit is glibc's trim threshold
(:mod:`neuro.backends._malloc`), so that freed blocks below 32 MiB stay in its heap too.
"""

from __future__ import annotations

import os
import sys
import threading
from dataclasses import dataclass, field

import numpy as np
import torch

from neuro.backends._malloc import keep_freed_memory
from neuro.errors import ConfigError

__all__ = ["cache_limit", "cached_bytes", "empty", "empty_array", "empty_cache", "empty_like", "set_cache_limit"]

#: Smaller requests go to torch's allocator: glibc's mmap threshold is 32 MiB (its dynamic ceiling, fixed by
#: neuro.backends._malloc), so it keeps and reuses freed blocks below that in its heap; holding them here raised
#: the peak resident memory (W1's training-memory benchmark at T=64 with 16 MiB buffers: 43 -> 64 MiB when blocks from
#: 256 KiB up were pooled); from 32 MiB on glibc unmaps every freed block and the next step faults it in again.
MIN_BYTES = 32 << 20

#: Alignment of a block's start, as torch's own CPU allocator (64 bytes: a cache line, AVX-512 loads).
ALIGN = 64

_NUMPY = {torch.float32: np.float32, torch.float64: np.float64, torch.float16: np.float16, torch.uint8: np.uint8,
          torch.int32: np.int32, torch.int64: np.int64, torch.bool: np.bool_}
_TORCH = {np.dtype(v): k for k, v in _NUMPY.items()}


@dataclass(eq=False)  # blocks compare by identity
class _Block:
    raw: np.ndarray  # uint8, ALIGN bytes longer than asked
    nbytes: int
    used: int = field(default=0)  # tick of the last hand-out (the oldest free blocks are dropped first)


def _free_refs() -> int:
    block = _Block(np.empty(1, np.uint8), 1)
    return sys.getrefcount(block.raw)  # the block's attribute and getrefcount's argument


#: ``sys.getrefcount(block.raw)`` of a block no tensor uses.
_FREE_REFS = _free_refs()


def limit_from_env(value: str | None) -> int:
    """Bytes of ``NEURO_CPU_BUFFER_CACHE_MB`` (megabytes, default 1024)."""
    if value is None or not value.strip():
        return 1024 << 20
    try:
        mb = float(value)
    except ValueError:
        mb = -1.0
    if not mb >= 0:  # also NaN
        raise ConfigError(f"NEURO_CPU_BUFFER_CACHE_MB must be a number of megabytes >= 0, got {value!r}")
    return int(mb * (1 << 20))


_lock = threading.Lock()
_blocks: list[_Block] = []
_tick = 0
_limit = limit_from_env(os.environ.get("NEURO_CPU_BUFFER_CACHE_MB"))
keep_freed_memory(_limit)  # glibc keeps as much freed heap memory (neuro.backends._malloc)


def set_cache_limit(max_bytes: int) -> None:
    """Keep at most ``max_bytes`` of free blocks for reuse (0: no pool, every buffer comes from torch), and let
    glibc keep as much freed memory at the top of its heap (:mod:`neuro.backends._malloc`)."""
    global _limit
    if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 0:
        raise ConfigError(f"set_cache_limit: max_bytes must be an integer >= 0, got {max_bytes!r}")
    with _lock:
        _limit = int(max_bytes)
        _trim()
        keep_freed_memory(_limit)


def cache_limit() -> int:
    """Bytes of free blocks kept at most."""
    return _limit


def cached_bytes() -> tuple[int, int]:
    """``(in use, free)`` bytes of the pool's blocks."""
    with _lock:
        free = sum(b.nbytes for b in _blocks if sys.getrefcount(b.raw) == _FREE_REFS)
        return sum(b.nbytes for b in _blocks) - free, free


def empty_cache() -> None:
    """Drop every free block (blocks in use stay in the pool: once free they are kept up to the limit again)."""
    with _lock:
        _trim(keep=0)


def _trim(keep: int | None = None) -> None:
    """Drop the oldest free blocks until at most ``keep`` (default: the limit) bytes are free."""
    budget = _limit if keep is None else keep
    free = sorted((b for b in _blocks if sys.getrefcount(b.raw) == _FREE_REFS), key=lambda b: b.used)
    total = sum(b.nbytes for b in free)
    for b in free:
        if total <= budget:
            break
        _blocks.remove(b)
        total -= b.nbytes


def _view(block: _Block, shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
    start = -block.raw.ctypes.data % ALIGN
    return torch.from_numpy(block.raw[start:start + block.nbytes].view(_NUMPY[dtype]).reshape(shape))


def empty(shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
    """An uninitialised contiguous CPU tensor, from a reused block when one of the same size is free."""
    global _tick
    shape = tuple(int(s) for s in shape)
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if dtype not in _NUMPY or nbytes < MIN_BYTES or _limit == 0:
        return torch.empty(shape, dtype=dtype)
    with _lock:
        _tick += 1
        block = next((b for b in _blocks if b.nbytes == nbytes and sys.getrefcount(b.raw) == _FREE_REFS), None)
        if block is None:
            block = _Block(np.empty(nbytes + ALIGN, np.uint8), nbytes)
            _blocks.append(block)
        block.used = _tick
        out = _view(block, shape, dtype)  # in use from here on: the trim below keeps it
        _trim()  # blocks freed since the last call count against the limit now
        return out


def empty_like(x: torch.Tensor) -> torch.Tensor:
    """:func:`empty` with ``x``'s shape and dtype (``torch.empty_like`` for a non-CPU ``x``)."""
    if x.device.type != "cpu":
        return torch.empty_like(x)
    return empty(tuple(x.shape), x.dtype)


def empty_array(shape: tuple[int, ...], dtype: np.dtype | type) -> np.ndarray:
    """:func:`empty` as a numpy array (the memory of a tensor: keep the array, or a tensor of it, while in use)."""
    dt = np.dtype(dtype)
    if dt not in _TORCH:
        return np.empty(shape, dt)
    return empty(shape, _TORCH[dt]).numpy()
