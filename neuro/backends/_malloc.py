"""glibc's allocator told to keep freed heap memory for reuse instead of returning it to the system every step.

glibc returns the free memory at the top of its heap to the system once it exceeds the trim threshold, which
its dynamic tuning sets to twice the largest block it has seen freed (at most 64 MiB). A training step frees
most of what it allocated at its end, so the next step may fault the same pages in again: on the 2-core VM this
project is measured on, W2's neuro step took 10,676 minor page faults and 35 ms of system CPU time per step
under glibc's own thresholds and 771 faults and 5 ms with these settings (``PYTHONPATH=. python
experiments/malloc_trim.py --only W2 --no-thp``, fresh processes, medians of three).

:func:`keep_freed_memory` sets the trim threshold to the CPU buffer cache's limit (the same budget as
:mod:`neuro.backends._buffers`: memory kept for reuse) and fixes the mmap threshold at 32 MiB, the largest
value glibc's dynamic tuning reaches anyway (blocks from there on are still mapped and unmapped per call:
the buffer pool reuses those of neuro's kernels). Nothing is changed when the process is not on glibc, or when
the user set glibc's threshold environment variables (``MALLOC_TRIM_THRESHOLD_`` and its kin, ``GLIBC_TUNABLES`` with a
``glibc.malloc`` entry): theirs wins, e.g. the memory benchmark's one-mapping-per-allocation subprocess.
"""

from __future__ import annotations

import ctypes
import os
import sys
from collections.abc import Callable, Mapping

__all__ = ["DEFAULT_TRIM", "MMAP_THRESHOLD", "keep_freed_memory", "user_configured"]

#: ``mallopt`` parameter codes (``malloc.h``).
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3

#: glibc's largest mmap threshold on 64-bit (``DEFAULT_MMAP_THRESHOLD_MAX``): its dynamic tuning's ceiling.
MMAP_THRESHOLD = 32 << 20

#: glibc's initial trim threshold, restored when the limit is set to 0.
DEFAULT_TRIM = 128 << 10

_ENV = ("MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TOP_PAD_", "MALLOC_MMAP_MAX_")

_tuned = False


def user_configured(env: Mapping[str, str]) -> bool:
    """Whether ``env`` sets glibc malloc parameters itself (then neuro leaves them alone)."""
    return any(name in env for name in _ENV) or "glibc.malloc." in env.get("GLIBC_TUNABLES", "")


def _mallopt() -> Callable[[int, int], int] | None:
    """glibc's ``mallopt``, or ``None`` on another C library or system."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None)
        libc.gnu_get_libc_version  # noqa: B018 -- glibc only (musl's mallopt is a no-op)
        fn = libc.mallopt
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_int]
    fn.restype = ctypes.c_int
    return fn


def keep_freed_memory(limit: int, env: Mapping[str, str] | None = None) -> bool:
    """Keep up to ``limit`` bytes of freed memory at the top of glibc's heap (0: glibc's initial 128 KiB).

    Returns whether glibc's parameters are neuro's now. Once set, a later call only moves the trim threshold;
    with ``limit`` 0 before any tuning nothing is changed at all.
    """
    global _tuned
    if user_configured(os.environ if env is None else env):
        return False
    if not _tuned and limit == 0:
        return False
    mallopt = _mallopt()
    if mallopt is None:
        return False
    trim = min(max(int(limit), DEFAULT_TRIM), 2**31 - 1)  # mallopt takes a C int
    if not _tuned:
        if not mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD):
            return False
        _tuned = True
    return bool(mallopt(M_TRIM_THRESHOLD, trim))
