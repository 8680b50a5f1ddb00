"""libgomp's spin-waiting against a thread pool of neuro's own: a fused LIF layer's forward + backward at W5's
shape (T=4, 32 x 64 x 256 neurons, the papers' tau = 2 node), alone and right after a small GEMM, in child
processes: neuro's kernels on torch's OpenMP team (the default, :mod:`neuro.backends._omp_team`), on neuro's own
thread pool (``NEURO_PARALLEL=pool``), and on that pool with libgomp told not to spin (``GOMP_SPINCOUNT=0``).

torch runs its parallel operations on libgomp's OpenMP threads, which after each parallel region keep spinning for
a while before they sleep. On a 2-core machine a spinning OpenMP thread takes a core from a separate pool's thread
that runs right after any torch operation, even a ``full_like`` that creates a neuron's initial state; running the
kernels on the OpenMP team itself avoids that without changing libgomp's settings for torch (``GOMP_SPINCOUNT``
would also have to be set before torch is imported). Medians of ``--repeats`` calls.

``--handoff``: instead, what handing a trivial kernel (65,536 additions) to the team costs, with the team threads
keeping their Python thread state between callbacks (the default, ``_omp_team._keep_thread_state``) and with a
fresh one for every callback (``ctypes``'s own behaviour), in alternating child processes; medians of 400 calls,
right after one another and each right after a small torch operation.

Usage: ``PYTHONPATH=. python experiments/omp_spin.py [--repeats 25] [--handoff]``
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


def handoff_child(keep: bool) -> None:
    import statistics
    import time

    import numpy as np
    import torch
    from numba import njit

    from neuro.backends import _omp_team, _parallel

    if not keep:
        _omp_team._keep_thread_state = lambda: None

    @njit(nogil=True)
    def kernel(out, b0, b1, bs):
        for i in range(b0 * bs, min(out.shape[0], b1 * bs)):
            out[i] += 1.0

    out = np.zeros(1 << 16)
    a = torch.randn(1 << 20)
    medians = []
    for after_op in (False, True):
        times = []
        for _ in range(400):
            if after_op:
                a.mul_(1.0)
            t0 = time.perf_counter()
            _parallel.run_blocks(kernel, out.shape[0], 4096, out, work=1 << 20)
            times.append(time.perf_counter() - t0)
        medians.append(statistics.median(times) * 1e6)
    print(f"hand-off {medians[0]:.1f} us back to back, {medians[1]:.1f} us right after a torch operation",
          flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=25)
    parser.add_argument("--handoff", action="store_true", help="time handing a trivial kernel to the team instead")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--keep", choices=("yes", "no"), default="yes", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        if args.handoff:
            handoff_child(args.keep == "yes")
        else:
            child(args.repeats)
        return
    if args.handoff:
        for keep in ("yes", "no") * 3:
            env = {k: v for k, v in os.environ.items() if k not in ("GOMP_SPINCOUNT", "NEURO_PARALLEL")}
            out = subprocess.run([sys.executable, __file__, "--child", "--handoff", "--keep", keep], env=env,
                                 capture_output=True, text=True, check=True).stdout.strip()
            label = "thread states kept" if keep == "yes" else "fresh thread state per callback"
            print(f"{label:32s} {out}", flush=True)
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
