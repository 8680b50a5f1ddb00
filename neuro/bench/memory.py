"""Peak memory of one workload step in one implementation, measured in this (fresh) process.

Run by :func:`measure` as ``python -m neuro.bench.memory WORKLOAD IMPL SIZE_JSON`` with the
allocator set to return large blocks to the OS (:func:`neuro.bench.harness.mmap_env`): it builds
the case, runs one warm-up step (compilation, caches), then reports the extra peak resident memory
of a second step as JSON ``{"bytes": ...}``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import torch

from neuro.bench.harness import mmap_env, peak_memory

__all__ = ["measure"]


def measure(workload: str, impl: str, size: dict[str, int], timeout: float = 900.0) -> int | None:
    """Peak extra bytes of one step, from a subprocess (``None`` if it failed)."""
    env = mmap_env()
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = root + (":" + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    cmd = [sys.executable, "-m", "neuro.bench.memory", workload, impl, json.dumps(size)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return None
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("{"):
            return json.loads(line).get("bytes")
    return None


def main(argv: list[str]) -> None:
    from neuro.bench import WORKLOADS

    name, impl, size = argv[0], argv[1], json.loads(argv[2])
    spec = WORKLOADS[name]
    case = spec.build(impl, size, torch.float32, **spec.kwargs)
    case.step()
    print(json.dumps({"bytes": peak_memory(case.step)}))


if __name__ == "__main__":  # pragma: no cover
    main(sys.argv[1:])
