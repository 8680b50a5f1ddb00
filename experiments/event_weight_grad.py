"""The event-driven weight gradient of W1's first layer, written in the weight's layout block by block against
the gather's ``(K, N)`` result transposed afterwards (what the layers did before; autograd then copied it into the
weight's layout). Same sums; medians of ``--repeats`` calls per round, rounds alternating the two.

Usage: ``PYTHONPATH=. python experiments/event_weight_grad.py [--repeats 11] [--rounds 3]``
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch

from neuro.backends._fused_event import _gather


def median_ms(fn: Callable[[], object], repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=11)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    g = torch.Generator().manual_seed(0)
    rows, k, n = 25 * 128, 2312, 512  # W1: T*B rows, 2312 inputs at 5% density, 512 neurons
    x = torch.rand(rows, k, generator=g) < 0.05
    gy = torch.randn(rows, n, generator=g)
    xt = x.t().contiguous()  # CSC of x: per input, the rows where it is active
    row_idx = xt.nonzero()[:, 1].to(torch.int32)
    colptr = torch.zeros(k + 1, dtype=torch.int32)
    colptr[1:] = xt.sum(1).cumsum(0)
    before = lambda: _gather(row_idx, gy, colptr, None).t().contiguous()  # noqa: E731
    after = lambda: _gather(row_idx, gy, colptr, None, transposed=True)  # noqa: E731
    assert torch.equal(before(), after())
    print(f"weight gradient ({n}, {k}) from {int(x.sum())} input events, {torch.get_num_threads()} threads")
    for r in range(args.rounds):
        print(f"  round {r}: transposed afterwards {median_ms(before, args.repeats):6.2f} ms, "
              f"in the weight's layout {median_ms(after, args.repeats):6.2f} ms")


if __name__ == "__main__":
    main()
