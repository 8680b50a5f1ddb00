"""EventLinear forward + backward at W5's densities, with the forward gather band (``max_forward_density`` 0.3) and
without it (0: the GEMM, input kept as bits). Same sums up to float order; medians of ``--repeats`` round-robin
calls (:func:`neuro.bench.harness.time_interleaved`).

``--w5-pairs N`` instead times W5's whole neuro step (forward + backward, full size) in fresh processes, band
0.3 and 0 alternately (the order swapped every pair), N pairs, under the benchmark's huge-page setting, and
prints each process's median of 7 steps.

Usage: ``PYTHONPATH=. python experiments/forward_gather_band.py [--repeats 15] [--w5-pairs 4]``
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

import torch

from neuro.bench.harness import stats, time_interleaved
from neuro.layers import EventLinear

#: (in, out, density): W5's fc1 (its input, the fc1 neuron's spikes, is 25% dense) and q/k/v (shortcut spikes, 23.5%).
SHAPES = ((256, 1024, 0.25), (256, 256, 0.235))


def w5_child(band: float) -> None:
    from neuro.bench import WORKLOADS

    init = EventLinear.__init__

    def banded(self: EventLinear, *a: object, **k: object) -> None:
        init(self, *a, **k)  # type: ignore[arg-type]
        self.max_forward_density = band

    EventLinear.__init__ = banded  # type: ignore[method-assign]
    spec = WORKLOADS["W5"]
    case = spec.build("neuro", spec.sizes["full"], torch.float32, **spec.kwargs)
    for _ in range(2):
        case.step()
    times = []
    for _ in range(7):
        t0 = time.perf_counter()
        case.step()
        times.append((time.perf_counter() - t0) * 1e3)
    print(statistics.median(times))


def w5_pairs(pairs: int) -> None:
    env = {**os.environ, "THP_MEM_ALLOC_ENABLE": "1"}
    runs: dict[float, list[float]] = {0.3: [], 0.0: []}
    for p in range(pairs):
        for band in (0.3, 0.0) if p % 2 == 0 else (0.0, 0.3):
            out = subprocess.run([sys.executable, __file__, "--w5-child", str(band)], env=env, capture_output=True,
                                 text=True, check=True).stdout
            runs[band].append(float(out.strip().splitlines()[-1]))
    for band, ms in runs.items():
        print(f"W5 step, band {band}: {' '.join(f'{m:.1f}' for m in ms)} ms (median {statistics.median(ms):.1f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--rows", type=int, default=8192, help="T * B * tokens of W5")
    parser.add_argument("--w5-pairs", type=int, default=0)
    parser.add_argument("--w5-child", type=float, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.w5_child is not None:
        w5_child(args.w5_child)
        return
    if args.w5_pairs:
        w5_pairs(args.w5_pairs)
        return
    g = torch.Generator().manual_seed(0)
    for k, n, density in SHAPES:
        layer = EventLinear(k, n)
        x = (torch.rand(args.rows, k, generator=g) < density).float().requires_grad_(True)
        gy = torch.randn(args.rows, n, generator=g)

        def step(band: float, layer: EventLinear = layer, x: torch.Tensor = x, gy: torch.Tensor = gy) -> None:
            layer.max_forward_density = band
            layer.zero_grad(set_to_none=True)
            x.grad = None
            layer(x).backward(gy)

        samples = time_interleaved({"gather band 0.3": lambda s=step: s(0.3), "GEMM (band 0)": lambda s=step: s(0.0)},
                                   args.repeats, 2)
        print(f"EventLinear {k} -> {n}, {args.rows} rows, {density:.1%} binary input, forward + backward, "
              f"{torch.get_num_threads()} threads")
        for name, times in samples.items():
            st = stats(times)
            print(f"  {name:16s} median {st.median:6.1f} ms (min {st.min:.1f}, max {st.max:.1f})")


if __name__ == "__main__":
    main()
