"""Run neuro's kernel chunks on torch's own OpenMP threads (libgomp), through ``ctypes``.

torch runs its parallel operations on libgomp's thread team, whose threads keep spinning for a while after each
parallel region before they sleep (``GOMP_SPINCOUNT``: 300,000 busy-wait spins by default, libgomp's manual
says). A separate thread pool started right after a torch operation therefore finds its cores taken by spinning
OpenMP threads: on a 2-core Intel Xeon VM a fused LIF layer's forward + backward at W5's shape took 7.1-8.6 ms on
neuro's own pool and 3.6-4.2 ms on torch's team (``PYTHONPATH=. python experiments/omp_spin.py``, which times
both, 2026-11-27). Here the chunks run *on* that team instead: :func:`run` calls libgomp's ``GOMP_parallel``
(the entry point a compiler emits for ``#pragma omp parallel``) with a ``ctypes`` callback; every thread of the
team, the caller included, takes chunks from a shared counter and calls the kernel, which is compiled ``nogil``,
so the threads hold the GIL only to fetch a chunk. The team's threads are woken as torch wakes them, and spin
afterwards as they do after torch's own operations.

A ``ctypes`` callback on a thread Python did not start gets a fresh Python thread state for every call, created and
destroyed around it (with a memory mapping for its frame stack each time); each team thread therefore keeps the
first one it gets (:func:`_keep_thread_state`): a trivial kernel's hand-off took 70-86 us instead of 99-100 us back to
back, 97-106 instead of 126-131 us right after a torch operation, on the VM above (``PYTHONPATH=. python
experiments/omp_spin.py --handoff``, three alternating pairs of processes, 2026-11-28).

:func:`library` finds the libgomp that torch loaded (:func:`pick_libgomp`: on PyPI's Linux builds of torch,
``torch/lib/libgomp.so.1``); where there is none (torch built with another OpenMP runtime or none, another OS), or
with ``NEURO_PARALLEL=pool``, :mod:`neuro.backends._parallel` keeps its own thread pool.
"""

from __future__ import annotations

import ctypes
import functools
import itertools
import os
import sys
import threading
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

__all__ = ["library", "library_path", "pick_libgomp", "run", "wanted"]

_CALLBACK = ctypes.CFUNCTYPE(None, ctypes.c_void_p)


def pick_libgomp(mapped: Iterable[str], torch_dir: str) -> list[str]:
    """Of the shared objects ``mapped`` into a process, the libgomp that torch's operations may run on: the one in
    ``torch_dir`` (torch's own directory) if there is one, else the only libgomp mapped, provided no other OpenMP
    runtime (LLVM's ``libomp``, Intel's ``libiomp5``) is mapped too, as torch may then run on that one."""
    names = set(mapped)
    gomp = sorted(p for p in names if p.rsplit("/", 1)[-1].startswith("libgomp"))
    root = torch_dir.rstrip("/") + "/"
    own = [p for p in gomp if p.startswith(root)]
    if own:
        return own
    others = [p for p in names if p.rsplit("/", 1)[-1].startswith(("libomp", "libiomp"))]
    return gomp if len(gomp) == 1 and not others else []


def _loaded_libgomp() -> list[str]:
    """:func:`pick_libgomp` of this process's memory map (Linux; empty where it cannot be read)."""
    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        return []
    import torch

    return pick_libgomp((line.split()[-1] for line in maps.splitlines() if "/" in line),
                        str(Path(torch.__file__).parent))


def library() -> ctypes.CDLL | None:
    """torch's libgomp, with ``GOMP_parallel`` typed, or ``None`` where torch's parallel operations do not run on
    libgomp (or this could not be confirmed)."""
    found = _found()
    return None if found is None else found[0]


def library_path() -> str | None:
    """The file of :func:`library` (``None`` where there is none)."""
    found = _found()
    return None if found is None else found[1]


@functools.cache
def _found() -> tuple[ctypes.CDLL, str] | None:
    if not sys.platform.startswith("linux"):
        return None
    import torch

    if "OpenMP" not in torch.__config__.parallel_info():
        return None
    for path in _loaded_libgomp():
        try:
            lib = ctypes.CDLL(path)  # already loaded: the same instance, not a second copy
            fn = lib.GOMP_parallel
        except (OSError, AttributeError):
            continue
        fn.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_uint, ctypes.c_uint]
        fn.restype = None
        return lib, path
    return None


# Jobs in flight, by the integer passed to the callback as its data pointer (several Python threads may each run
# one: libgomp gives every calling thread its own team).
_jobs: dict[int, tuple[Any, ...]] = {}
_ids = itertools.count(1)  # 0 would arrive as a NULL pointer


# Native ids of the team threads that keep their Python thread state (cleared in a forked child).
_kept: set[int] = set()
os.register_at_fork(after_in_child=_kept.clear)

#: At most this many team threads keep their thread state. A kept state is never freed, even after its thread has
#: ended (libgomp ends a team's threads when the Python thread that led it ends), so a program that runs kernels from
#: many short-lived Python threads would otherwise accumulate them (each with its 16 KB frame stack, the mapping
#: ``strace`` shows made and unmade per callback without this); past the limit, callbacks get ``ctypes``'s fresh
#: thread state again.
MAX_KEPT = 64


def _keep_thread_state() -> None:
    """Keep this thread's Python thread state after the current callback returns: one more ``PyGILState_Ensure``,
    never released, so ``ctypes``'s own release after the callback does not destroy it and the next callback on
    this thread reuses it (only for threads Python did not start; at most :data:`MAX_KEPT` in a process)."""
    ident = threading.get_native_id()
    if ident not in _kept and len(_kept) < MAX_KEPT:
        ctypes.pythonapi.PyGILState_Ensure()
        _kept.add(ident)


def _member(data: int | None) -> None:
    """One team thread's part: chunks from the shared counter until none are left (errors kept for the caller)."""
    job = _jobs.get(data or 0)
    if job is None:
        return
    kernel, args, bounds, block, counter, errors, caller = job
    if threading.get_native_id() != caller:  # a thread of libgomp's, not the Python thread that called run()
        _keep_thread_state()
    try:
        while not errors:
            k = next(counter)
            if k >= len(bounds):
                return
            kernel(*args, bounds[k][0], bounds[k][1], block)
    except BaseException as e:  # re-raised on the calling thread
        errors.append(e)


_member_c = _CALLBACK(_member)  # kept alive for the life of the module
_member_ptr = ctypes.cast(_member_c, ctypes.c_void_p).value


def run(kernel: Callable[..., Any], args: Sequence[Any], bounds: Sequence[tuple[int, int]], block: int,
        threads: int) -> None:
    """``kernel(*args, b0, b1, block)`` for every ``(b0, b1)`` in ``bounds`` on a team of ``threads`` OpenMP
    threads (the caller among them); the first error any chunk raised is raised here, after the team is done."""
    lib = library()
    if lib is None:
        raise RuntimeError("no libgomp of torch's in this process (neuro.backends._omp_team.library() is None)")
    key = next(_ids)
    errors: list[BaseException] = []
    _jobs[key] = (kernel, tuple(args), list(bounds), block, itertools.count(), errors, threading.get_native_id())
    try:
        lib.GOMP_parallel(_member_ptr, key, threads, 0)  # ctypes releases the GIL for the call
    finally:
        del _jobs[key]
    if errors:
        raise errors[0]


def wanted() -> bool:
    """Whether :mod:`neuro.backends._parallel` should use the team: ``NEURO_PARALLEL`` is ``openmp`` (default) or
    ``pool``."""
    raw = os.environ.get("NEURO_PARALLEL", "openmp")
    choice = raw.strip().lower()
    if choice not in ("openmp", "pool"):
        from neuro.errors import ConfigError

        raise ConfigError(f"NEURO_PARALLEL={raw!r}: expected 'openmp' (torch's OpenMP threads) or 'pool' "
                          "(neuro's own thread pool)")
    return choice == "openmp"
