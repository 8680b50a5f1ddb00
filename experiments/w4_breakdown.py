"""Where W4's time goes (the README's W4 paragraph): neuro's recurrent kernel with and without its recurrent
synapses, on its sparse path (only the non-zero synapses added, from fan-out lists) instead of whole rows, and the
same recurrent row sums through torch's own gather (``F.embedding_bag``, fbgemm, one call per
step). Medians of ``--repeats`` calls, float32, torch's default threads.

``--tiles 128,256,512`` also times the kernel with these column tiles of the dense path
(``neuro.backends._numba_recurrent.TILE``), round-robin in this process (the order reversed every other round).

Usage: ``PYTHONPATH=. python experiments/w4_breakdown.py [--repeats 7] [--tiles 128,256,512]``
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np
import torch
from torch.nn import functional as F

from neuro.backends import _numba_recurrent
from neuro.backends._numba_recurrent import run
from neuro.bench import WORKLOADS
from neuro.bench.harness import stats, time_interleaved
from neuro.bench.lsm import lsm_weights


def median_ms(fn: Callable[[], object], repeats: int) -> float:
    """Median ms of ``repeats`` calls after one untimed call (compiles, warms up)."""
    return stats(time_interleaved({"fn": fn}, repeats=repeats)["fn"]).median


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--tiles", default="", help="comma-separated column tiles to compare")
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
    for label, weight in (("with synapses   ", w_rec.numpy()), ("without synapses", None)):
        ms = median_ms(lambda weight=weight: run(current, v0, v0, weight, c, 0, False, threads), args.repeats)
        print(f"  recurrent kernel, {label}  {ms:7.1f} ms")
    dense_above = _numba_recurrent.DENSE_ROWS_ABOVE
    try:  # the same matrix on the sparse path: only the non-zero synapses, from the fan-out lists
        _numba_recurrent.DENSE_ROWS_ABOVE = 2.0
        if not np.array_equal(run(current, v0, v0, w_rec.numpy(), c, 0, False, threads)[0], spikes):
            raise SystemExit("sparse path: different spikes")
        ms = median_ms(lambda: run(current, v0, v0, w_rec.numpy(), c, 0, False, threads), args.repeats)
    finally:
        _numba_recurrent.DENSE_ROWS_ABOVE = dense_above
    print(f"  the sparse path (non-zeros only)   {ms:7.1f} ms")

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

    if args.tiles:
        widths = [int(w) for w in args.tiles.split(",")]
        times: dict[int, list[float]] = {w: [] for w in widths}
        default = _numba_recurrent.TILE
        try:
            for r in range(args.repeats + 1):  # the first round compiles and checks
                for w in widths if r % 2 else widths[::-1]:
                    _numba_recurrent.TILE = w
                    t0 = time.perf_counter()
                    out = run(current, v0, v0, w_rec.numpy(), c, 0, False, threads)[0]
                    if r:
                        times[w].append(time.perf_counter() - t0)
                    elif not np.array_equal(out, spikes):
                        raise SystemExit(f"tile {w}: different spikes")
        finally:
            _numba_recurrent.TILE = default
        for w in widths:
            print(f"  tiles of {w:4d} columns          {statistics.median(times[w]) * 1e3:7.1f} ms")


if __name__ == "__main__":
    main()
