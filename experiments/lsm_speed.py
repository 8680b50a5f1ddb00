"""Reservoir inference speed: neuro's event-driven reservoir against the same reservoir in peer libraries.

Workload (the performance issue's W4 by default): 2312 binary inputs at 2% density -> 1000 LIF neurons with
all-to-all input weights and 10% random recurrent connectivity, T = 300 steps, batch 64, decay 0.9, hard reset
to 0. Every implementation runs without autograd on the same input and (where the library allows setting
them) the same weights; the table gives the best of ``--repeats`` wall-clock times and the mean firing rate.
``--peer-grad`` adds the peers as they are usually run, with autograd on (they then also record a graph).

Peers: snnTorch ``Linear`` + ``RLeaky`` (all-to-all recurrent linear), SpikingJelly ``LinearRecurrentContainer``
around a ``LIFNode`` (tau = 10 steps, ``decay_input=False``: the same update as ours), Norse ``LIFRecurrent``
(its current-based LIF); and neuro's own torch specification (``backends.use("reference")``), with
event-driven and with dense products. The first row is neuro's default (the fused numba kernel when numba is
installed).

    python experiments/lsm_speed.py                # W4, 1 thread
    python experiments/lsm_speed.py --threads 2 --repeats 5 --json runs/lsm_speed.json
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from collections.abc import Callable

import torch

from neuro import backends
from neuro.core.weight_source import GaussianWeights
from neuro.models.lsm import Connectivity, Reservoir, kernels


def _time(fn: Callable[[], torch.Tensor], repeats: int, grad: bool = False) -> tuple[float, float]:
    with torch.set_grad_enabled(grad):
        spikes = fn()
        best = float("inf")
        for _ in range(repeats):
            t0 = time.perf_counter()
            spikes = fn()
            best = min(best, time.perf_counter() - t0)
    return best, float(spikes.float().mean())


def _snntorch(x: torch.Tensor, res: Reservoir, beta: float, vth: float) -> Callable[[], torch.Tensor]:
    import snntorch as snn

    n_in, n = res.input.weight.shape
    fc = torch.nn.Linear(n_in, n, bias=False)
    fc.weight.data = res.input.weight.T.contiguous()
    lif = snn.RLeaky(beta=beta, threshold=vth, linear_features=n, reset_mechanism="zero", learn_recurrent=False)
    lif.recurrent.weight.data = res.recurrent.weight.T.contiguous()
    lif.recurrent.bias.data.zero_()

    def run() -> torch.Tensor:
        spk, mem = lif.init_rleaky()
        out = []
        for x_t in x:
            spk, mem = lif(fc(x_t), spk, mem)
            out.append(spk)
        return torch.stack(out)
    return run


def _spikingjelly(x: torch.Tensor, res: Reservoir, beta: float, vth: float) -> Callable[[], torch.Tensor]:
    from spikingjelly.activation_based import functional, layer, neuron

    n_in, n = res.input.weight.shape
    node = neuron.LIFNode(tau=1.0 / (1.0 - beta), decay_input=False, v_threshold=vth, v_reset=0.0)
    net = layer.LinearRecurrentContainer(node, n, n, bias=False)
    net.rc.weight.data = torch.cat([torch.eye(n), res.recurrent.weight.T], dim=1)  # [I, W_rec^T] on [x W_in, y]
    fc = layer.Linear(n_in, n, bias=False, step_mode="m")
    fc.weight.data = res.input.weight.T.contiguous()

    def run() -> torch.Tensor:
        functional.reset_net(net)
        currents = fc(x)  # (T, B, n), multi-step
        return torch.stack([net(c) for c in currents])
    return run


def _norse(x: torch.Tensor, res: Reservoir, beta: float, vth: float) -> Callable[[], torch.Tensor]:
    import norse.torch as nt

    n_in, n = res.input.weight.shape
    p = nt.LIFParameters(tau_mem_inv=torch.tensor((1.0 - beta) / 1e-3), v_th=torch.tensor(vth))
    net = nt.LIFRecurrent(n_in, n, p=p)
    net.input_weights.data = res.input.weight.T.contiguous()
    net.recurrent_weights.data = res.recurrent.weight.T.contiguous()
    return lambda: net(x)[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--inputs", type=int, default=2312)
    ap.add_argument("--neurons", type=int, default=1000)
    ap.add_argument("--density", type=float, default=0.02)
    ap.add_argument("--recurrent-p", type=float, default=0.1, help="recurrent connection probability (1 = dense)")
    ap.add_argument("--scale", type=float, default=0.1, help="weight std (sets the firing rate)")
    ap.add_argument("--threshold", type=float, default=1.0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--peers", default="reference,snntorch,spikingjelly,norse")
    ap.add_argument("--peer-grad", action="store_true", help="also time the peers with autograd enabled")
    ap.add_argument("--json", default="")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    try:  # the fused kernel's threads (numba is optional)
        import numba

        numba.set_num_threads(min(args.threads, numba.config.NUMBA_NUM_THREADS))
    except ImportError:
        pass
    warnings.filterwarnings("ignore")
    beta = 0.9
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(args.steps, args.batch, args.inputs, generator=g) < args.density).float()
    res = Reservoir(args.inputs, args.neurons, decay=beta, v_threshold=args.threshold,
                    weights=GaussianWeights(args.scale), connectivity=Connectivity("random", p=args.recurrent_p),
                    seed=0)
    name, _ = kernels.select(x, res.input.weight)
    rows = {f"neuro ({name} kernel)": _time(lambda: res(x)[0], args.repeats)}
    builders = {"snntorch": _snntorch, "spikingjelly": _spikingjelly, "norse": _norse}
    for peer in filter(None, args.peers.split(",")):
        if peer == "reference":  # the torch specification: event-driven products, and dense ones
            with backends.use("reference"):
                rows["neuro (torch reference)"] = _time(lambda: res(x)[0], args.repeats)
                dense = Reservoir(args.inputs, args.neurons, decay=beta, v_threshold=args.threshold,
                                  weights=GaussianWeights(args.scale),
                                  connectivity=Connectivity("random", p=args.recurrent_p), seed=0, dense_above=0.0)
                rows["neuro (torch, dense products)"] = _time(lambda d=dense: d(x)[0], args.repeats)
            continue
        try:
            rows[peer] = _time(builders[peer](x, res, beta, args.threshold), args.repeats)
            if args.peer_grad:  # as the peers are usually run: autograd on (their weights require grad)
                rows[f"{peer} (autograd on)"] = _time(builders[peer](x, res, beta, args.threshold), args.repeats,
                                                      grad=True)
        except ImportError as exc:
            print(f"{peer}: not installed ({exc})")
    ours = rows[f"neuro ({name} kernel)"][0]
    print(f"T={args.steps} B={args.batch} inputs={args.inputs} (density {args.density}) -> {args.neurons} LIF, "
          f"{args.recurrent_p:.0%} recurrent; {args.threads} thread(s), best of {args.repeats}")
    print(f"{'implementation':<32}{'seconds':>10}{'x slower':>10}{'firing rate':>13}")
    for name, (sec, rate) in rows.items():
        print(f"{name:<32}{sec:>10.3f}{sec / ours:>10.1f}{rate:>13.4f}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"args": vars(args), "results": {k: {"seconds": s, "firing_rate": r}
                                                       for k, (s, r) in rows.items()}}, fh, indent=2)


if __name__ == "__main__":
    main()
