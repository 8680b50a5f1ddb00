"""neuro's step time with and without the CPU buffer pool (``neuro.backends._buffers``), one process each.

Usage: ``PYTHONPATH=. python experiments/buffer_pool.py [--pairs 3] [--only W3-train,W4,W5,W1]``

Each pair runs a fresh process with the pool off (``NEURO_CPU_BUFFER_CACHE_MB=0``) and one with it on (the
default), alternately, under the benchmark's huge-page setting (``THP_MEM_ALLOC_ENABLE=1``); each process
times neuro's step of the workload (two untimed steps, then ``--steps`` timed ones) and prints its median.
Separate processes matter: in one process the pool's blocks change what glibc hands the other variant.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

SIZES = {"W1": {"T": 25, "B": 128, "inputs": 2312, "hidden": 512, "outputs": 10, "density_pct": 5},
         "W3-train": {"T": 64, "N": 1048576},
         "W4": {"T": 300, "B": 64, "inputs": 2312, "neurons": 1000},
         "W5": {"T": 4, "B": 32, "dim": 256, "heads": 8, "hw": 8}}


def child(workload: str, steps: int) -> None:
    import torch

    from neuro.bench import WORKLOADS

    spec = WORKLOADS[workload]
    case = spec.build("neuro", SIZES[workload], torch.float32, **spec.kwargs)
    for _ in range(2):
        case.step()
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        case.step()
        times.append((time.perf_counter() - t0) * 1e3)
    print(json.dumps({"median_ms": statistics.median(times)}))


def run(workload: str, pool: bool, steps: int) -> float:
    env = {**os.environ, "THP_MEM_ALLOC_ENABLE": "1"}
    if not pool:
        env["NEURO_CPU_BUFFER_CACHE_MB"] = "0"
    else:
        env.pop("NEURO_CPU_BUFFER_CACHE_MB", None)
    out = subprocess.run([sys.executable, __file__, "--child", workload, "--steps", str(steps)], env=env,
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])["median_ms"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=int, default=3)
    ap.add_argument("--steps", type=int, default=7)
    ap.add_argument("--only", default="W3-train,W4,W5,W1")
    ap.add_argument("--child", default="")
    args = ap.parse_args()
    if args.child:
        child(args.child, args.steps)
        return
    for workload in args.only.split(","):
        off, on = [], []
        for _ in range(args.pairs):
            off.append(run(workload, False, args.steps))
            on.append(run(workload, True, args.steps))
        listed = " | ".join(f"pool {name} " + " ".join(f"{t:.0f}" for t in ts) + " ms" for name, ts in (("off", off),
                                                                                                    ("on", on)))
        a, b = statistics.median(off), statistics.median(on)
        print(f"{workload}: {listed} | median of medians {a:.0f} -> {b:.0f} ms", flush=True)


if __name__ == "__main__":
    main()
