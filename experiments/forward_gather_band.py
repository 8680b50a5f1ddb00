"""EventLinear forward + backward at W5's densities, with the forward gather band (``max_forward_density`` 0.3) and
without it (0: the GEMM, input kept as bits). Same sums up to float order; medians of ``--repeats`` round-robin
calls (:func:`neuro.bench.harness.time_interleaved`).

Usage: ``PYTHONPATH=. python experiments/forward_gather_band.py [--repeats 15]``
"""

from __future__ import annotations

import argparse

import torch

from neuro.bench.harness import stats, time_interleaved
from neuro.layers import EventLinear

#: (in, out, density): W5's fc1 (its input, the fc1 neuron's spikes, is 25% dense) and q/k/v (shortcut spikes, 23.5%).
SHAPES = ((256, 1024, 0.25), (256, 256, 0.235))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--rows", type=int, default=8192, help="T * B * tokens of W5")
    args = parser.parse_args()
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
