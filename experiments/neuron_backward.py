"""Forward and backward time of single neuron layers on the fused CPU kernels against the torch reference.

LIF (ATan and Sigmoid surrogates) and ALIF on three shapes: W3-like ``(64, 131072)``, W1's hidden layer
``(25, 128, 512)`` and W5's ``(4, 32, 64, 256)``; float32, forward then ``backward`` of a fixed gradient, medians
of ``--repeats`` calls after two warm-up calls.

Usage: ``PYTHONPATH=. python experiments/neuron_backward.py [--repeats 9]``
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from neuro import ALIF, LIF, backends

SHAPES = ((64, 131072), (25, 128, 512), (4, 32, 64, 256))


def timed(layer: torch.nn.Module, shape: tuple[int, ...], backend: str, repeats: int) -> tuple[float, float]:
    """Median forward and backward milliseconds of ``layer`` on ``backend``."""
    g = torch.Generator().manual_seed(0)
    x = (torch.randn(shape, generator=g) * 1.5 + 0.8).requires_grad_()
    grad = torch.randn(shape, generator=g)
    fwd, bwd = [], []
    with backends.use(backend):
        for i in range(repeats + 2):
            t0 = time.perf_counter()
            s = layer(x)[0]
            t1 = time.perf_counter()
            s.backward(grad)
            t2 = time.perf_counter()
            x.grad = None
            if i >= 2:
                fwd.append(t1 - t0)
                bwd.append(t2 - t1)
    return statistics.median(fwd) * 1e3, statistics.median(bwd) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=9)
    args = parser.parse_args()
    layers = {"LIF atan": LIF(tau_mem=4e-3), "LIF sigmoid": LIF(tau_mem=4e-3, surrogate="sigmoid"),
              "ALIF": ALIF(tau_mem=4e-3, tau_adapt=1e-2, beta_adapt=0.5)}
    print(f"{'layer':12s} {'shape':18s} {'fused fwd':>10s} {'fused bwd':>10s} {'ref fwd':>9s} {'ref bwd':>9s}  (ms)")
    for name, layer in layers.items():
        for shape in SHAPES:
            ff, fb = timed(layer, shape, "fused", args.repeats)
            rf, rb = timed(layer, shape, "reference", args.repeats)
            print(f"{name:12s} {'x'.join(map(str, shape)):18s} {ff:10.1f} {fb:10.1f} {rf:9.1f} {rb:9.1f}")


if __name__ == "__main__":
    main()
