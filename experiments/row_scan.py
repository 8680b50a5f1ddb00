"""The event layers' input scan (``neuro.backends._fused_event.row_counts``: non-zeros per row, whether the input is
binary, its bitmap) with the vector-compare words of :func:`neuro.backends._numba_event.count_rows` against the
element-by-element loop (``count_rows_scalar``), on the inputs of W1 (3200 x 2312 float32, 5% non-zero), W4
(19200 x 2312, 2%) and W5's MLP hidden layer (8192 x 1024, 3%), and ``Tensor.sum`` of W4's input as a read-only
reference. Round-robin medians of ``--repeats`` calls on torch's threads.

Usage: ``THP_MEM_ALLOC_ENABLE=1 PYTHONPATH=. python experiments/row_scan.py [--repeats 30]``
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from neuro.backends import _numba_event as nk
from neuro.backends._parallel import blocks, run_blocks
from neuro.bench.harness import stats, time_interleaved


def scan(kernel, x: torch.Tensor) -> tuple[np.ndarray, bool, np.ndarray]:
    a = x.numpy()
    m, k = a.shape
    counts = np.empty(m, dtype=np.int64)
    nonbinary = np.zeros(blocks(m, nk.ROWS), dtype=np.int64)
    bits = np.empty((m, (k + 63) // 64), dtype=np.uint64)
    run_blocks(kernel, m, nk.ROWS, a, counts, nonbinary, bits, work=m * k)
    return counts, bool(nonbinary.any()), bits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    g = torch.Generator().manual_seed(0)
    inputs = {"W1 3200x2312 5%": (3200, 2312, 0.05), "W4 19200x2312 2%": (19200, 2312, 0.02),
              "W5 8192x1024 3%": (8192, 1024, 0.03)}
    xs = {name: (torch.rand(m, k, generator=g) < p).float() for name, (m, k, p) in inputs.items()}
    fns = {}
    for name, x in xs.items():
        fast, slow = scan(nk.count_rows, x), scan(nk.count_rows_scalar, x)
        assert all(np.array_equal(a, b) for a, b in zip(fast, slow, strict=True)), name
        fns[f"{name} vector words"] = lambda x=x: scan(nk.count_rows, x)
        fns[f"{name} element loop"] = lambda x=x: scan(nk.count_rows_scalar, x)
    fns["W4 input, Tensor.sum"] = lambda: xs["W4 19200x2312 2%"].sum()
    times = time_interleaved(fns, repeats=args.repeats, warmup=3)
    for name, samples in times.items():
        print(f"{name:32s} {stats(samples).median:7.2f} ms")


if __name__ == "__main__":
    main()
