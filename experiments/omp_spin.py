"""libgomp's spin-waiting against a thread pool of neuro's own: a fused LIF layer's forward + backward at W5's
shape (T=4, 32 x 64 x 256 neurons, the papers' tau = 2 node), alone and right after a small GEMM, in child
processes: neuro's kernels on torch's OpenMP team (the default, :mod:`neuro.backends._omp_team`), on neuro's own
thread pool (``NEURO_PARALLEL=pool``), and on that pool with libgomp told not to spin (``GOMP_SPINCOUNT=0``).

torch runs its parallel operations on libgomp's OpenMP threads, which after each parallel region keep spinning for
a while before they sleep. On a 2-core machine a spinning OpenMP thread takes a core from a separate pool's thread
that runs right after any torch operation, even a ``full_like`` that creates a neuron's initial state; running the
kernels on the OpenMP team itself avoids that without changing libgomp's settings for torch (``GOMP_SPINCOUNT``
would also have to be set before torch is imported). Medians of ``--repeats`` calls.

Usage: ``PYTHONPATH=. python experiments/omp_spin.py [--repeats 25]``
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys


def child(repeats: int) -> None:
    import statistics
    import time

    import torch

    from neuro import LIF

    node = LIF(tau_mem=2e-3, dt=1e-3, decay_input=True, reset="hard", detach_reset=True, surrogate="sigmoid")
    x = (torch.randn(4, 32 * 64 * 256) * 1.5 + 0.8).requires_grad_()
    g = torch.randn(x.shape)
    a, w = torch.randn(8192, 256), torch.randn(256, 256)

    def lif() -> None:
        x.grad = None
        node(x)[0].backward(g)

    def timed(after_gemm: bool) -> float:
        times = []
        for _ in range(repeats):
            if after_gemm:
                torch.mm(a, w)
            t0 = time.perf_counter()
            lif()
            times.append(time.perf_counter() - t0)
        return statistics.median(times) * 1e3

    for _ in range(3):
        lif()
    print(f"LIF forward + backward {timed(False):.2f} ms alone, {timed(True):.2f} ms right after a GEMM", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=25)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.repeats)
        return
    settings = (("torch's OpenMP team", {"NEURO_PARALLEL": "openmp"}), ("own pool", {"NEURO_PARALLEL": "pool"}),
                ("own pool, GOMP_SPINCOUNT=0", {"NEURO_PARALLEL": "pool", "GOMP_SPINCOUNT": "0"}))
    for label, extra in settings * 2:
        env = {k: v for k, v in os.environ.items() if k not in ("GOMP_SPINCOUNT", "NEURO_PARALLEL")} | extra
        out = subprocess.run([sys.executable, __file__, "--child", "--repeats", str(args.repeats)], env=env,
                             capture_output=True, text=True, check=True).stdout.strip()
        print(f"{label:30s} {out}", flush=True)


if __name__ == "__main__":
    main()
