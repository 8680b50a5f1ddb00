"""Peak memory of one workload step in one implementation, measured in this (fresh) process.

Run by :func:`measure` as ``python -m neuro.bench.memory WORKLOAD IMPL SIZE_JSON`` with the
allocator set to return large blocks to the OS (:func:`neuro.bench.harness.mmap_env`): it builds
the case, runs one warm-up step (compilation, caches), then reports the extra peak resident memory
of a second step, and the median time of three more, as JSON ``{"bytes": ..., "step_ms": ...}``.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

from neuro.backends import empty_cpu_cache
from neuro.bench.harness import mmap_env, peak_memory

__all__ = ["measure"]


def measure(workload: str, impl: str, size: dict[str, int], timeout: float = 900.0
            ) -> tuple[int | None, float | None]:
    """``(peak extra bytes of one step, median step milliseconds)`` from a subprocess (``None``s if it failed)."""
    env = mmap_env()
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = root + (":" + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    cmd = [sys.executable, "-m", "neuro.bench.memory", workload, impl, json.dumps(size)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return None, None
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("{"):
            report = json.loads(line)
            return report.get("bytes"), report.get("step_ms")
    return None, None


def main(argv: list[str]) -> None:
    from neuro.bench import WORKLOADS

    name, impl, size = argv[0], argv[1], json.loads(argv[2])
    spec = WORKLOADS[name]
    case = spec.build(impl, size, torch.float32, **spec.kwargs)
    case.step()
    empty_cpu_cache()  # the step's reused blocks (neuro.backends._buffers) count in the peak, not in the base
    peak = peak_memory(case.step)
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        case.step()
        times.append((time.perf_counter() - t0) * 1e3)
    print(json.dumps({"bytes": peak, "step_ms": statistics.median(times)}))


if __name__ == "__main__":  # pragma: no cover
    main(sys.argv[1:])
