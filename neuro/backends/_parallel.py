"""Run a numba kernel over blocks of neurons on several threads.

The kernels are compiled ``nogil`` and serial (``kernel(*args, first_block, end_block, block)``);
this module splits the block range into chunks and runs them on ``torch.get_num_threads()`` threads: torch's own
OpenMP threads where torch runs on libgomp (:mod:`neuro.backends._omp_team`; they would otherwise spin on the
cores a separate pool needs right after every torch operation), else (or with ``NEURO_PARALLEL=pool``) a thread
pool of neuro's own. Serial kernels compile about four times faster than ``prange`` ones, which matters because
every option combination is its own specialised kernel, and a chunk queue keeps both cores busy on a shared
machine where one thread may be descheduled.

Example:
    >>> import numpy as np
    >>> from numba import njit
    >>> @njit(nogil=True)
    ... def fill(out, b0, b1, bs):
    ...     out[b0 * bs:b1 * bs] = 1.0
    >>> out = np.zeros(10)
    >>> run_blocks(fill, 10, 3, out)
    >>> out.sum()
    np.float64(10.0)
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import torch

from neuro.backends import _omp_team

__all__ = ["blocks", "executor", "run_blocks"]

#: Fewer elements than this per call run on the calling thread (thread hand-off costs ~50 us).
SERIAL_BELOW = 1 << 15


@functools.cache
def _pool(threads: int) -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=threads, thread_name_prefix="neuro-fused")


def executor() -> str:
    """Where :func:`run_blocks` runs its chunks now: ``"openmp"`` (torch's OpenMP threads) or ``"pool"``."""
    return "openmp" if _omp_team.wanted() and _omp_team.library() is not None else "pool"


def blocks(n: int, block: int) -> int:
    """Number of blocks of ``block`` items covering ``n`` items."""
    return (n + block - 1) // block


def run_blocks(kernel: Callable[..., Any], n: int, block: int, *args: Any, work: int | None = None) -> None:
    """Call ``kernel(*args, b0, b1, block)`` over every block of ``n`` items, in parallel when worthwhile.

    ``work`` (default ``n``) is the number of elements touched, used to decide whether threads pay off.
    """
    count = blocks(n, block)
    threads = min(torch.get_num_threads(), count)
    if threads <= 1 or (n if work is None else work) < SERIAL_BELOW:
        kernel(*args, 0, count, block)
        return
    chunks = min(count, 4 * threads)
    bounds = [count * k // chunks for k in range(chunks + 1)]
    if executor() == "openmp":
        _omp_team.run(kernel, args, [(b0, b1) for b0, b1 in itertools.pairwise(bounds) if b1 > b0], block, threads)
        return
    futures = [_pool(threads).submit(kernel, *args, b0, b1, block)
               for b0, b1 in itertools.pairwise(bounds) if b1 > b0]
    for f in futures:
        f.result()
