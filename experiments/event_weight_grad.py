"""The event-driven weight gradient of W1's first layer, written in the weight's layout block by block against
the gather's ``(K, N)`` result transposed afterwards (what the layers did before; autograd then copied it into the
weight's layout). Same sums; medians (min-max) of ``--repeats`` round-robin calls of the two
(:func:`neuro.bench.harness.time_interleaved`).

Usage: ``PYTHONPATH=. python experiments/event_weight_grad.py [--repeats 21]``
"""

from __future__ import annotations

import argparse

import torch

from neuro.backends._fused_event import _gather
from neuro.bench.harness import stats, time_interleaved


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=21)
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
    samples = time_interleaved({"transposed afterwards": before, "in the weight's layout": after}, args.repeats)
    for name, times in samples.items():
        st = stats(times)
        print(f"  {name:24s} median {st.median:6.2f} ms (min {st.min:.2f}, max {st.max:.2f})")


if __name__ == "__main__":
    main()
