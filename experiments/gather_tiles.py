"""The event layers' gathers on neuro's tiled kernel (``neuro.backends._numba_gather``) against torch's
``embedding_bag`` in 64-column blocks (the path it replaces for binary inputs), at the benchmark's shapes.

Each case is one gather of the workloads (binary input, float32, same input and table), both paths timed
round-robin in this process (:func:`neuro.bench.harness.time_interleaved`), the tiling copy and the blocks' slice
and result copies included; the results are checked equal first (the same float sums in the same order).
Prints the medians and the paired ratio (tiled / blocks) of every case.

Usage: ``THP_MEM_ALLOC_ENABLE=1 PYTHONPATH=. python experiments/gather_tiles.py [--repeats 11]``
"""

from __future__ import annotations

import argparse

import torch

from neuro.backends import _fused_event as fe
from neuro.bench.harness import paired_ratios, stats, time_interleaved

#: (name, bags, table rows, table columns, density, transposed): the forward gathers of W4's input projection
#: and W1's hidden layer (table ``W^T``, a transposed view of the weight), and the weight-gradient gathers of
#: W1's hidden layer and W5's MLP/attention projections (table ``dy``, one bag per input column).
CASES = (
    ("W4 input, forward", 19200, 2312, 1000, 0.02, False),
    ("W1 hidden, forward", 3200, 2312, 512, 0.05, False),
    ("W1 hidden, weight grad", 2312, 3200, 512, 0.05, True),
    ("W5 fc2, weight grad", 1024, 8192, 256, 0.03, True),
    ("W5 q/k/v, weight grad", 256, 8192, 256, 0.235, True),
)


def case(bags: int, rows: int, columns: int, density: float, transposed: bool, seed: int = 0):
    """``(tiled, blocks)`` callables of one gather, and whether their results are equal."""
    g = torch.Generator().manual_seed(seed)
    x = (torch.rand(bags, rows, generator=g) < density).float()
    indptr, indices, _ = fe.to_csr(x, fe.row_counts(x))
    if transposed:  # dy: a contiguous (rows, columns) table
        table = torch.randn(rows, columns, generator=g)
    else:  # W^T: a transposed view of a (columns, rows) weight
        table = torch.randn(columns, rows, generator=g).t()

    def tiled() -> torch.Tensor:
        return fe._gather_tiles(indices, table, indptr, transposed)

    def blocks() -> torch.Tensor:
        return fe._gather_blocks(indices, table, indptr, None, transposed)

    return tiled, blocks, bool(torch.equal(tiled(), blocks()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=11)
    args = parser.parse_args()
    print(f"{torch.get_num_threads()} threads, float32; medians of {args.repeats} round-robin calls")
    for name, *shape in CASES:
        tiled, blocks, equal = case(*shape)
        if not equal:
            raise SystemExit(f"{name}: the tiled gather differs from embedding_bag")
        times = time_interleaved({"tiled": tiled, "blocks": blocks}, repeats=args.repeats)
        ratio = paired_ratios(times["tiled"], times["blocks"])
        print(f"  {name:24s} tiled {stats(times['tiled']).median:6.2f} ms, embedding_bag blocks "
              f"{stats(times['blocks']).median:6.2f} ms, paired ratio {ratio.median:.2f} "
              f"[{ratio.min:.2f}, {ratio.max:.2f}]", flush=True)


if __name__ == "__main__":
    main()
