"""Where W4's time goes (the README's W4 paragraph): neuro's recurrent kernel with and without its recurrent
synapses and how many of its steps took the pull path; each of its synapse paths forced (dense rows of the
matrix, the sparse fan-out lists, the pull path: ``neuro.backends._numba_recurrent``'s ``ROW_VECTOR_COST`` and
``FANOUT_ADD_COST`` come from these) at W4's firing rate and at a low one; and the same recurrent row sums through
torch's own gather (``F.embedding_bag``, fbgemm, one call per step). Medians of ``--repeats`` calls, float32,
torch's default threads.

``--baseline DIR`` also times the recurrent kernel of another checkout of this repository (its
``neuro/backends/_numba_recurrent.py``, compiled afresh under another name; the rest of neuro is this one) round-robin
with this one's, checks the spikes are identical and prints the paired ratio (this / baseline): e.g. a
``git worktree add /tmp/before <commit>`` of the commit before a change.

Usage: ``PYTHONPATH=. python experiments/w4_breakdown.py [--repeats 7] [--baseline DIR]``
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from neuro.backends import _numba_recurrent
from neuro.backends._numba_recurrent import run
from neuro.bench import WORKLOADS
from neuro.bench.harness import paired_ratios, stats, time_interleaved
from neuro.bench.lsm import lsm_weights


def median_ms(fn: Callable[[], object], repeats: int) -> float:
    """Median ms of ``repeats`` calls after one untimed call (compiles, warms up)."""
    return stats(time_interleaved({"fn": fn}, repeats=repeats)["fn"]).median


def forced(run_: Callable[..., tuple], dense_above: float, cost: float, current: np.ndarray, v0: np.ndarray,
           weight: np.ndarray, c: np.ndarray, threads: int) -> tuple:
    """One W4 reservoir run with the dense-rows threshold and both pull costs set (0: never pull, 1e9: pull at
    every step after the first)."""
    saved = (_numba_recurrent.DENSE_ROWS_ABOVE, _numba_recurrent.ROW_VECTOR_COST, _numba_recurrent.FANOUT_ADD_COST)
    try:
        _numba_recurrent.DENSE_ROWS_ABOVE = dense_above
        _numba_recurrent.ROW_VECTOR_COST = _numba_recurrent.FANOUT_ADD_COST = cost
        return run_(current, v0, v0, weight, c, 0, False, threads)
    finally:
        (_numba_recurrent.DENSE_ROWS_ABOVE, _numba_recurrent.ROW_VECTOR_COST,
         _numba_recurrent.FANOUT_ADD_COST) = saved


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--baseline", type=Path, help="another checkout whose recurrent kernel to compare with")
    args = parser.parse_args()
    size = WORKLOADS["W4"].sizes["full"]
    x, w_in, w_rec = lsm_weights(size)
    x, w_in, w_rec = x.float(), w_in.float(), w_rec.float()
    current = (x @ w_in.T).numpy()  # (T, B, N)
    t_len, batch, n = current.shape
    c = np.array([0.5, 0.0, 1.0, 1.0, 0.0], np.float32)  # W4's LIF: decay 0.5, hard reset to 0, threshold 1
    v0 = np.zeros((batch, n), np.float32)
    threads = torch.get_num_threads()
    spikes = run(current, v0, v0, w_rec.numpy(), c, 0, False, threads)[0]
    rate = float(spikes.mean())
    print(f"W4: T={t_len}, B={batch}, N={n}, firing rate {rate:.3f}; {threads} threads")
    pulled, steps = _numba_recurrent.last_pulls
    for label, weight in (("with synapses   ", w_rec.numpy()), ("without synapses", None)):
        ms = median_ms(lambda weight=weight: run(current, v0, v0, weight, c, 0, False, threads), args.repeats)
        print(f"  recurrent kernel, {label}  {ms:7.1f} ms")
    print(f"  (with synapses, the pull path took {pulled} of its {steps} steps of sample blocks)")

    # Each path forced, at W4's firing rate and at a low one (the input current scaled down), round-robin: the
    # dense rows (tiles) or the sparse fan-out lists against the pull path, whose work does not depend on the rate.
    print("  paths forced (medians, paired ratio pull / other):")
    for label, scale in (("W4's input", 1.0), ("input x 0.45", 0.45)):
        scaled = current * np.float32(scale)
        reference = run(scaled, v0, v0, w_rec.numpy(), c, 0, False, threads)[0]
        for path, dense_above in (("dense rows", _numba_recurrent.DENSE_ROWS_ABOVE), ("fan-out lists", 2.0)):
            fns = {}
            for mode, cost in (("other", 0.0), ("pull", 1e9)):
                fns[mode] = functools.partial(forced, run, dense_above, cost, scaled, v0, w_rec.numpy(), c, threads)
                if not np.array_equal(fns[mode]()[0], reference):
                    raise SystemExit(f"{path}/{mode}: different spikes")
            times = time_interleaved(fns, repeats=args.repeats)
            ratio = paired_ratios(times["pull"], times["other"])
            print(f"    {label} (rate {reference.mean():.3f}), {path:13s} {stats(times['other']).median:7.1f} ms, "
                  f"pull {stats(times['pull']).median:7.1f} ms: {ratio.median:.2f} [{ratio.min:.2f}, {ratio.max:.2f}]")

    # The same recurrent sums through fbgemm: step t adds, per sample, the rows of W^T of the neurons that fired
    # at step t - 1 (identical spikes, so identical work).
    table = w_rec.T.contiguous()
    steps = []
    for s in torch.from_numpy(spikes[:-1]).unbind(0):
        rows, cols = s.nonzero(as_tuple=True)
        steps.append((cols.to(torch.int32), torch.searchsorted(rows, torch.arange(batch)).to(torch.int32)))

    def gather_all() -> None:
        for idx, offsets in steps:
            F.embedding_bag(idx, table, offsets, mode="sum")

    adds = sum(int(idx.numel()) for idx, _ in steps) * n
    ms = median_ms(gather_all, args.repeats)
    print(f"  the same row sums via embedding_bag {ms:7.1f} ms  ({adds / 1e9:.2f} G additions)")

    if args.baseline is not None:
        path = args.baseline / "neuro" / "backends" / "_numba_recurrent.py"
        if not path.is_file():
            raise SystemExit(f"--baseline: no recurrent kernel at {path}")
        with tempfile.TemporaryDirectory() as tmp:  # a copy compiled afresh: numba's cache knows the module's name
            copy = Path(tmp) / "baseline_recurrent.py"
            copy.write_text(path.read_text().replace("cache=True", "cache=False"))
            spec = importlib.util.spec_from_file_location("baseline_recurrent", copy)
            baseline = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(baseline)
        if not np.array_equal(baseline.run(current, v0, v0, w_rec.numpy(), c, 0, False, threads)[0], spikes):
            raise SystemExit("baseline: different spikes")
        times = time_interleaved({
            "this": lambda: run(current, v0, v0, w_rec.numpy(), c, 0, False, threads),
            "baseline": lambda: baseline.run(current, v0, v0, w_rec.numpy(), c, 0, False, threads)},
            repeats=args.repeats)
        ratio = paired_ratios(times["this"], times["baseline"])
        print(f"  this kernel {stats(times['this']).median:7.1f} ms, {args.baseline}'s "
              f"{stats(times['baseline']).median:7.1f} ms: paired ratio {ratio.median:.3f} "
              f"[{ratio.min:.3f}, {ratio.max:.3f}]")


if __name__ == "__main__":
    main()
