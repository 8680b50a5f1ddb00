"""Timing, spike verification, peak memory and reporting for ``neuro bench``.

* :func:`time_interleaved` runs every implementation once per round, round after round, so that a
  machine shared with other work slows all of them alike; it reports every sample.
* :func:`spike_mismatches` compares the spike tensors two implementations produced.
* :func:`profile_ops` says where one implementation's time goes: the operations that took the most
  of it, from torch's profiler.
* :func:`peak_memory` measures the extra memory one call needs: on CUDA from the caching
  allocator's peak; on CPU from the process's peak resident set (``VmHWM``, reset through
  ``/proc/self/clear_refs``) in a fresh subprocess whose allocator returns every large block to
  the OS (``MALLOC_MMAP_THRESHOLD_``), so freed memory is not silently reused.

Example:
    >>> samples = time_interleaved({"a": lambda: None, "b": lambda: None}, repeats=3, warmup=1)
    >>> sorted(samples), len(samples["a"])
    (['a', 'b'], 3)
"""

from __future__ import annotations

import gc
import os
import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import torch
from torch import Tensor

__all__ = ["OUTSIDE", "OpTime", "Stats", "paired_ratios", "peak_memory", "profile_ops", "spike_mismatches", "stats",
           "time_interleaved"]


@dataclass(frozen=True)
class Stats:
    """Summary of timing samples, in milliseconds."""

    median: float
    min: float
    max: float
    samples: list[float] = field(default_factory=list)


def stats(samples_s: list[float]) -> Stats:
    ms = [s * 1e3 for s in samples_s]
    return Stats(statistics.median(ms), min(ms), max(ms), ms)


def paired_ratios(samples: list[float], reference: list[float]) -> Stats:
    """Ratios ``samples[i] / reference[i]`` of the same round-robin rounds, summarised like times (unitless).

    Both implementations ran back to back in each round, so a slow spell of a shared machine that stretches a
    whole round cancels out of its ratio: their spread says how much a ratio of medians can be trusted."""
    if len(samples) != len(reference) or not samples:
        raise ValueError(f"paired_ratios: need the same non-zero number of rounds, got {len(samples)} and "
                         f"{len(reference)}")
    ratios = [a / b for a, b in zip(samples, reference, strict=True)]
    return Stats(statistics.median(ratios), min(ratios), max(ratios), ratios)


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def time_interleaved(fns: Mapping[str, Callable[[], object]], repeats: int = 5, warmup: int = 1,
                     device: str = "cpu") -> dict[str, list[float]]:
    """Seconds per call of each function, measured round-robin (``warmup`` untimed rounds first)."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
            _sync(device)
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            gc.collect()
            _sync(device)
            t0 = time.perf_counter()
            fn()
            _sync(device)
            samples[name].append(time.perf_counter() - t0)
    return samples


class OpTime(NamedTuple):
    """One operation's self time in a profiled call: milliseconds per call and share of the profiled wall time."""

    name: str
    ms: float
    share: float


def profile_ops(fn: Callable[[], object], repeats: int = 3, top: int = 8) -> list[OpTime]:
    """The ``top`` operations by self CPU time over ``repeats`` calls of ``fn`` (after one untimed call).

    Names are torch's (``aten::convolution_backward``) or an autograd function's class name (neuro's fused
    kernels, e.g. ``_LIFSequenceBackward``); times are per call of ``fn``, shares of the profiled wall time.
    Work outside any torch operation (a numba kernel called directly, Python) is one more entry,
    :data:`OUTSIDE`, when it takes at least 5% of the time.
    """
    from torch.profiler import ProfilerActivity, profile

    fn()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        t0 = time.perf_counter()
        for _ in range(repeats):
            fn()
        wall = (time.perf_counter() - t0) * 1e6  # us, like the profiler's times
    events = [e for e in prof.key_averages() if e.self_cpu_time_total > 0]
    ops = [OpTime(e.key, e.self_cpu_time_total / 1e3 / repeats, e.self_cpu_time_total / wall) for e in events]
    outside = wall - sum(e.self_cpu_time_total for e in events)
    if outside >= 0.05 * wall:
        ops.append(OpTime(OUTSIDE, outside / 1e3 / repeats, outside / wall))
    return sorted(ops, key=lambda op: op.ms, reverse=True)[:top]


#: The :func:`profile_ops` entry for time spent outside torch operations.
OUTSIDE = "(outside torch operations)"


def spike_mismatches(reference: Mapping[str, Tensor], other: Mapping[str, Tensor]) -> tuple[int, int]:
    """``(differing, total)`` spike count over the layers both implementations report."""
    differing = total = 0
    for key, ref in reference.items():
        if key not in other:
            continue
        got = other[key].detach().to(ref.device, ref.dtype).reshape(ref.shape)
        differing += int((got != ref).sum())
        total += ref.numel()
    return differing, total


def _status(field_name: str) -> int:
    """A ``kB`` field of ``/proc/self/status`` in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1]) * 1024
    raise OSError(f"/proc/self/status has no {field_name}")


def peak_memory(fn: Callable[[], object], device: str = "cpu") -> int | None:
    """Bytes one call of ``fn`` needs above what is allocated before it (``None`` if unmeasurable here).

    On CPU this is meaningful only in a process started with ``MALLOC_MMAP_THRESHOLD_`` set (see the
    module docstring); :mod:`neuro.bench.memory` is that process.
    """
    gc.collect()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        fn()
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated() - base
    try:
        Path("/proc/self/clear_refs").write_text("5")  # reset the peak resident set to the current one
        base = _status("VmRSS")
    except OSError:
        return None
    fn()
    return _status("VmHWM") - base


def mmap_env() -> dict[str, str]:
    """Environment of a memory-measuring subprocess: every allocation over 64 KiB is its own mapping."""
    return {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536", "MALLOC_TRIM_THRESHOLD_": "0"}
