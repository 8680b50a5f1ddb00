"""A LIF layer followed by a 2x2 max pool: fused (``SpikingMaxPool2d``) against the two modules, on W2's shapes.

Usage: ``PYTHONPATH=. python experiments/spiking_pool.py [--repeats 9] [--rounds 3] [--w2-steps 0]
[--quickstart-steps 0]``

Times forward + backward of both of W2's neuron layers with their pools (``(16, 32, 12, 30, 30)`` and
``(16, 32, 32, 11, 11)`` currents, float32, W2's neuron) as :class:`neuro.layers.SpikingMaxPool2d` and as the
neuron followed by :class:`neuro.layers.MaxPool2d` (the previous fused pool), interleaved: the median of each
``--rounds`` round's median of ``--repeats`` calls. ``--w2-steps N`` instead prints the median of ``N`` timed
training steps of ``neuro bench``'s W2 neuro case (after three untimed ones): run it alternately in fresh
processes on two checkouts to compare commits (``cd <checkout> && PYTHONPATH=. python
<this script> --w2-steps 11``). ``--quickstart-steps N`` does the same for a training step (Adam) of the
quickstart's model (``conv_snn``: conv -> BN -> LIF -> 2x2 average pool, twice, then a linear readout into LIF)
on a ``(10, 32, 2, 34, 34)`` batch of 5% dense event frames.
"""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Callable

import torch

from neuro.bench import WORKLOADS
from neuro.bench.harness import stats, time_interleaved
from neuro.bench.peers import neuron_module

SHAPES = ((16, 32, 12, 30, 30), (16, 32, 32, 11, 11))


def median_ms(fn: Callable[[], object], repeats: int) -> float:
    """Median ms of ``repeats`` calls after one untimed call (compiles, warms up)."""
    return stats(time_interleaved({"fn": fn}, repeats=repeats)["fn"]).median


def layers(repeats: int, rounds: int) -> None:
    from neuro.layers import MaxPool2d, SpikingMaxPool2d  # here: --w2-steps also runs on checkouts without it

    fused = SpikingMaxPool2d(2, neuron=neuron_module("neuro"))
    neuron, pool = neuron_module("neuro"), MaxPool2d(2)
    for shape in SHAPES:
        g = torch.Generator().manual_seed(0)
        x = (torch.rand(shape, generator=g) * 1.5).requires_grad_()
        grad = torch.rand(*shape[:3], shape[3] // 2, shape[4] // 2, generator=g)

        def separate(x: torch.Tensor = x, grad: torch.Tensor = grad) -> None:
            x.grad = None
            pool(neuron(x)[0]).backward(grad)

        def together(x: torch.Tensor = x, grad: torch.Tensor = grad) -> None:
            x.grad = None
            fused(x)[0].backward(grad)

        results: dict[str, list[float]] = {"neuron + MaxPool2d": [], "SpikingMaxPool2d": []}
        for fn in (separate, together):
            fn()
        for _ in range(rounds):
            for name, fn in zip(results, (separate, together), strict=True):
                results[name].append(median_ms(fn, repeats))
        print(f"{shape}: " + ", ".join(f"{name} {statistics.median(v):.1f} ms" for name, v in results.items()))


def w2_step(steps: int) -> None:
    spec = WORKLOADS["W2"]
    case = spec.build("neuro", spec.sizes["full"], torch.float32, **spec.kwargs)
    for _ in range(3):
        case.step()
    print(f"W2 neuro step: median {median_ms(case.step, steps):.1f} ms of {steps}")


def quickstart_step(steps: int) -> None:
    from neuro.models import build_model

    neuron = {"name": "lif", "tau_mem": 4e-3, "decay_input": False, "detach_reset": True}
    torch.manual_seed(0)
    model = build_model({"name": "conv_snn", "neuron": neuron}, (2, 34, 34), 10)
    x = (torch.rand(10, 32, 2, 34, 34) < 0.05).float()
    opt = torch.optim.Adam(model.parameters(), 1e-3)

    def step() -> None:
        opt.zero_grad()
        out, _ = model(x)
        out.sum(0).logsumexp(-1).sum().backward()
        opt.step()

    for _ in range(3):
        step()
    print(f"quickstart model step: median {median_ms(step, steps):.1f} ms of {steps}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--w2-steps", type=int, default=0)
    parser.add_argument("--quickstart-steps", type=int, default=0)
    args = parser.parse_args()
    if args.quickstart_steps:
        quickstart_step(args.quickstart_steps)
    elif args.w2_steps:
        w2_step(args.w2_steps)
    else:
        layers(args.repeats, args.rounds)


if __name__ == "__main__":
    main()
