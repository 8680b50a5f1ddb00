"""Step time and page faults with and without neuro's glibc settings (``neuro.backends._malloc``), one process each.

Usage: ``PYTHONPATH=. python experiments/malloc_trim.py [--pairs 3] [--only W2,W5] [--impls neuro,spikingjelly]``

Each pair runs a fresh process with glibc's own dynamic thresholds (a stand-in for
``neuro.backends._malloc`` makes importing neuro call no ``mallopt``) and one with neuro's settings (the
default), alternately, under the benchmark's huge-page setting (``THP_MEM_ALLOC_ENABLE=1``; ``--no-thp``:
torch's default, as a user runs). Each process builds one implementation of the workload at the benchmark's
full size, runs two untimed steps, then ``--steps`` timed ones, and prints the median step time, the minor
page faults per step and the system CPU time per step (both threads). neuro's settings apply to the whole
process, so the peers in ``neuro bench`` (same process) run under them too: time them as well.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
import types


def child(workload: str, impl: str, steps: int, tuned: bool) -> None:
    if not tuned:  # a stand-in module, so that importing neuro calls no mallopt at all
        stand_in = types.ModuleType("neuro.backends._malloc")
        stand_in.keep_freed_memory = lambda limit, env=None: False  # type: ignore[attr-defined]
        sys.modules[stand_in.__name__] = stand_in
    import torch

    from neuro.bench import WORKLOADS

    spec = WORKLOADS[workload]
    case = spec.build(impl, spec.sizes["full"], torch.float32, **spec.kwargs)
    for _ in range(2):
        case.step()
    times = []
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    for _ in range(steps):
        t0 = time.perf_counter()
        case.step()
        times.append((time.perf_counter() - t0) * 1e3)
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({"median_ms": statistics.median(times), "faults": (r1.ru_minflt - r0.ru_minflt) / steps,
                      "sys_ms": (r1.ru_stime - r0.ru_stime) * 1e3 / steps}))


def run(workload: str, impl: str, tuned: bool, steps: int, thp: bool) -> dict[str, float]:
    env = {**os.environ, "THP_MEM_ALLOC_ENABLE": "1"} if thp else {**os.environ}
    if not thp:
        env.pop("THP_MEM_ALLOC_ENABLE", None)
    cmd = [sys.executable, __file__, "--child", workload, "--impl", impl, "--steps", str(steps)]
    out = subprocess.run(cmd + ([] if tuned else ["--glibc-default"]), env=env, capture_output=True, text=True,
                         check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=int, default=3)
    ap.add_argument("--steps", type=int, default=7)
    ap.add_argument("--only", default="W2,W5")
    ap.add_argument("--impls", default="neuro,spikingjelly")
    ap.add_argument("--child", default="")
    ap.add_argument("--impl", default="neuro")
    ap.add_argument("--glibc-default", action="store_true")
    ap.add_argument("--no-thp", action="store_true", help="torch's default allocation (no THP_MEM_ALLOC_ENABLE)")
    args = ap.parse_args()
    if args.child:
        child(args.child, args.impl, args.steps, not args.glibc_default)
        return
    for workload in args.only.split(","):
        for impl in args.impls.split(","):
            runs: dict[str, list[dict[str, float]]] = {"glibc default": [], "neuro settings": []}
            for _ in range(args.pairs):
                runs["glibc default"].append(run(workload, impl, False, args.steps, not args.no_thp))
                runs["neuro settings"].append(run(workload, impl, True, args.steps, not args.no_thp))
            for name, rs in runs.items():
                ms = [r["median_ms"] for r in rs]
                print(f"{workload} {impl:13s} {name:15s} step medians {' '.join(f'{m:6.1f}' for m in ms)} ms "
                      f"(median {statistics.median(ms):6.1f}); faults/step "
                      f"{statistics.median(r['faults'] for r in rs):7.0f}; system CPU/step "
                      f"{statistics.median(r['sys_ms'] for r in rs):5.1f} ms", flush=True)


if __name__ == "__main__":
    main()
