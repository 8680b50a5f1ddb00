"""oneDNN's convolution weight gradient from a contiguous (NCHW) input against one from a channels-last copy made
for it (the copy's time included), on W2's two layers: the measurement behind ``NHWC_WEIGHT_GRAD_CHANNELS`` in
:mod:`neuro.backends._fused_conv`. Also W2's whole training step with that module's rule against without it
(paired ratios of round-robin steps in one process), and W2's step with its first convolution (2 channels, 10%
dense event frames) dense against event-driven (the threshold of :mod:`neuro.backends.tuning` on the Intel VM, 0.02,
against the built-in 0.4). Medians of ``--repeats`` round-robin calls, float32, torch's default threads.

Usage: ``PYTHONPATH=. python experiments/conv_weight_grad.py [--repeats 15]``
"""

from __future__ import annotations

import argparse

import torch

from neuro.backends import _fused_conv as fc
from neuro.bench import WORKLOADS
from neuro.bench.harness import paired_ratios, stats, time_interleaved

#: (name, input channels, output channels, side, input density) of W2's convolutions over its 512 images.
LAYERS = (("W2 conv1", 2, 12, 34, 0.10), ("W2 conv2", 12, 32, 15, 0.35))


def _grad(x: torch.Tensor, weight: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    return fc._conv_backward(g, x, weight, 0, [False, True, False])[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    torch.manual_seed(0)
    print(f"{'layer':10s} {'NCHW ms':>8s} {'channels-last ms':>17s}  rule picks")
    for name, c_in, c_out, side, density in LAYERS:
        x = (torch.rand(512, c_in, side, side) < density).float()
        weight = torch.randn(c_out, c_in, 5, 5) * 0.1
        g = torch.randn(512, c_out, side - 4, side - 4)
        torch.testing.assert_close(_grad(x.contiguous(memory_format=torch.channels_last), weight, g),
                                   _grad(x, weight, g), rtol=1e-4, atol=1e-2)
        t = time_interleaved({
            "nchw": lambda x=x, w=weight, g=g: _grad(x, w, g),
            "cl": lambda x=x, w=weight, g=g: _grad(x.contiguous(memory_format=torch.channels_last), w, g)},
            repeats=args.repeats)
        picked = "channels-last" if c_in >= fc.NHWC_WEIGHT_GRAD_CHANNELS else "NCHW"
        print(f"{name:10s} {stats(t['nchw']).median:8.2f} {stats(t['cl']).median:17.2f}  {picked}", flush=True)
    workload = WORKLOADS["W2"]
    case = workload.build("neuro", workload.sizes["full"], torch.float32)
    rule = fc.NHWC_WEIGHT_GRAD_CHANNELS

    def step(channels: int) -> None:
        fc.NHWC_WEIGHT_GRAD_CHANNELS = channels
        case.step()

    t = time_interleaved({"with": lambda: step(rule), "without": lambda: step(1 << 30)}, repeats=args.repeats)
    fc.NHWC_WEIGHT_GRAD_CHANNELS = rule
    ratio = paired_ratios(t["with"], t["without"])
    print(f"W2 training step: {stats(t['with']).median:.1f} ms with the rule, {stats(t['without']).median:.1f} ms "
          f"without; paired ratio {ratio.median:.3f} (min {ratio.min:.3f}, max {ratio.max:.3f})")
    from neuro.layers import EventConv2d

    built: list[EventConv2d] = []
    init = EventConv2d.__init__

    def record(self: EventConv2d, *a: object, **k: object) -> None:
        init(self, *a, **k)
        built.append(self)

    EventConv2d.__init__ = record  # type: ignore[method-assign]
    try:
        case = workload.build("neuro", workload.sizes["full"], torch.float32)
    finally:
        EventConv2d.__init__ = init  # type: ignore[method-assign]
    first = built[0]

    def first_layer(density: float) -> None:
        first.max_density = density
        case.step()

    t = time_interleaved({"dense": lambda: first_layer(0.02), "event": lambda: first_layer(0.4)},
                         repeats=args.repeats)
    ratio = paired_ratios(t["dense"], t["event"])
    print(f"W2 training step, first convolution dense: {stats(t['dense']).median:.1f} ms, event-driven: "
          f"{stats(t['event']).median:.1f} ms; paired ratio {ratio.median:.3f} (min {ratio.min:.3f}, "
          f"max {ratio.max:.3f})")


if __name__ == "__main__":
    main()
