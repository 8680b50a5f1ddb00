"""``neuro bench``: neuro against the installed peers on workloads W1-W5 (see :mod:`neuro.bench`)."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="benchmark neuro against snnTorch, SpikingJelly and Norse",
                       description="Verify identical spikes, then time workloads W1-W5 round-robin; print medians, "
                                   "min/max, ratios against the fastest peer and peak memory; write JSON.")
    p.add_argument("--only", default="", metavar="NAMES",
                   help="comma-separated workloads (W1,W2,W3-fwd,W3-train,W4,W5,W1-mem,data,crossover); "
                        "default: all but crossover")
    p.add_argument("--size", choices=("full", "tiny"), default="full", help="tiny: a seconds-long smoke run")
    p.add_argument("--repeats", type=int, default=5, help="timed rounds per workload (default 5)")
    p.add_argument("--warmup", type=int, default=1, help="untimed rounds first (default 1)")
    p.add_argument("--threads", type=int, default=None, help="torch/numba threads (default: torch's default)")
    p.add_argument("--json", default="bench_results.json", help="report path (default bench_results.json)")
    p.add_argument("--no-thp", dest="thp", action="store_false",
                   help="do not rerun with THP_MEM_ALLOC_ENABLE=1 (transparent huge pages for large CPU tensors, "
                        "for every implementation alike; see the README's benchmark section)")
    p.add_argument("--brian2-python", default=None, metavar="PATH",
                   help="interpreter of a separate environment with Brian2 (it needs numpy < 2.4), which then also "
                        "runs W4 (default: $NEURO_BRIAN2_PYTHON)")
    p.add_argument("--profile", action="store_true",
                   help="also profile one training/inference step of neuro and of the fastest peer per workload "
                        "(torch profiler: the operations taking the most time)")
    p.add_argument("--save-tuning", action="store_true",
                   help="with crossover: write the measured break-even densities to the tuning file "
                        "($NEURO_TUNING, else ~/.cache/neuro/tuning.json), which event-driven layers built "
                        "afterwards on this machine take as their default thresholds")
    p.add_argument("--gpu-check", action="store_true",
                   help="instead: check the Triton backend against the reference on the GPU and time W1, W3, W5 "
                        "against SpikingJelly's GPU backends")
    p.set_defaults(func=run)


def _rerun_with_thp(args: argparse.Namespace) -> int:
    """Run this command again in a child process whose torch allocates large tensors on huge pages."""
    cmd = [sys.executable, "-m", "neuro", "bench", "--no-thp", "--size", args.size, "--repeats", str(args.repeats),
           "--warmup", str(args.warmup), "--json", args.json]
    for flag, value in (("--only", args.only), ("--threads", args.threads), ("--brian2-python", args.brian2_python)):
        if value:
            cmd += [flag, str(value)]
    cmd += [flag for flag, on in (("--gpu-check", args.gpu_check), ("--profile", args.profile),
                                  ("--save-tuning", args.save_tuning)) if on]
    env = {**os.environ, "THP_MEM_ALLOC_ENABLE": "1"}
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return subprocess.call(cmd, env=env)


def run(args: argparse.Namespace) -> int:
    if args.thp and os.environ.get("THP_MEM_ALLOC_ENABLE") != "1":
        return _rerun_with_thp(args)
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.gpu_check:
        from neuro.bench.gpu_check import gpu_check

        report = gpu_check(size=args.size, repeats=args.repeats)
    else:
        from neuro.bench.brian import brian2_python
        from neuro.bench.run import markdown
        from neuro.bench.run import run as run_bench

        names = [n.strip() for n in args.only.split(",") if n.strip()] or None
        if args.save_tuning and "crossover" not in (names or []):
            raise SystemExit("neuro bench: --save-tuning needs crossover among --only (e.g. --only crossover)")
        report = run_bench(names, size=args.size, repeats=args.repeats, warmup=args.warmup,
                           brian2=brian2_python(args.brian2_python), profile=args.profile,
                           save_tuning=args.save_tuning)
        print()
        print(markdown(report))
    Path(args.json).write_text(json.dumps(report, indent=2, default=str))
    print(f"\nreport written to {args.json}")
    return 0
