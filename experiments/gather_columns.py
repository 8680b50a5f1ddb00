"""The event-driven gather (:func:`neuro.backends._fused_event._gather`) with the table whole against in 64-column
blocks, over a grid of table shapes and input densities: the measurements behind ``WHOLE_TABLE_BYTES`` and
``WHOLE_NARROW_BYTES`` in that module. Same sums; medians of ``--repeats`` round-robin calls, float32, 8192 bags
(``--bags``), torch's default threads. The last column says which one the module picks.

Usage: ``PYTHONPATH=. python experiments/gather_columns.py [--repeats 9] [--bags 8192]``
"""

from __future__ import annotations

import argparse
import itertools

import torch
from torch.nn import functional as F

from neuro.backends import _fused_event as fe
from neuro.bench.harness import stats, time_interleaved


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--bags", type=int, default=8192)
    args = parser.parse_args()
    torch.manual_seed(0)
    print(f"{'rows':>5s} {'cols':>5s} {'density':>7s} {'KiB':>5s} {'whole ms':>9s} {'blocks ms':>9s}  picked")
    for k, n, d in itertools.product((256, 1024, 2312), (256, 512, 1024), (0.01, 0.03, 0.1, 0.25)):
        x = (torch.rand(args.bags, k) < d).float()
        table = torch.randn(k, n)
        offsets, indices, _ = fe.to_csr(x, fe.row_counts(x))
        whole = F.embedding_bag(indices, table, offsets[:-1], mode="sum")
        torch.testing.assert_close(fe._gather_blocks(indices, table, offsets, None), whole)
        args_ = (indices, table, offsets)
        t = time_interleaved({"whole": lambda a=args_: F.embedding_bag(a[0], a[1], a[2][:-1], mode="sum"),
                              "blocks": lambda a=args_: fe._gather_blocks(*a, None)}, repeats=args.repeats)
        picked = "whole" if fe.whole_table(k, n, 4, args.bags) else "blocks"
        print(f"{k:5d} {n:5d} {d:7.2f} {k * n * 4 >> 10:5d} {stats(t['whole']).median:9.2f} "
              f"{stats(t['blocks']).median:9.2f}  {picked}", flush=True)


if __name__ == "__main__":
    main()
