"""BatchNormNeuron (the batch norm folded into the fused neuron kernels) against ``nn.BatchNorm1d`` then ``LIF``.

Prints, for W5's attention block (:mod:`neuro.bench.sdsa`, full size, float32): the bytes autograd keeps for backward
with the fused modules and with the two modules in sequence, and the step times of both, round-robin in this
process (medians and the median of the paired ratios); then forward + backward of the pair alone on W5's token
shapes (256 and 1024 channels). ``--statistics``: instead, the batch statistics alone on W5's shapes and a
convolution's: one pass of :func:`neuro.backends._numba_norm.paired_sums` (what ``BatchNormNeuron`` runs) against
two (the same kernel again about the mean, which reads the input twice) and ``torch.var_mean``. ``--qkv``: instead,
W5's block step with q, k and v computed by :func:`neuro.layers.shared_input` (their input spikes compressed once)
against three separate ``EventLinear`` calls (paired ratios of round-robin steps in one process).

Usage: ``THP_MEM_ALLOC_ENABLE=1 PYTHONPATH=. python experiments/norm_neuron.py [--rounds 12] [--statistics | --qkv]``
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time

import torch
from torch import nn

from neuro import LIF, backends
from neuro.bench import WORKLOADS
from neuro.bench.sdsa import TokenBlock
from neuro.layers import BatchNormNeuron


def w5_node() -> LIF:
    return LIF(tau_mem=2e-3, dt=1e-3, decay_input=True, reset="hard", detach_reset=True, surrogate="sigmoid")


def saved_mib(block: nn.Module, x: torch.Tensor) -> float:
    """MiB of distinct storages autograd saves for one forward pass."""
    seen: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        seen[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        block(x)
    return sum(seen.values()) / 2**20


def round_robin(fns: dict[str, object], rounds: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {k: [] for k in fns}
    for r in range(rounds + 1):  # the first round warms up
        for name in (list(fns) if r % 2 else list(fns)[::-1]):
            t0 = time.perf_counter()
            fns[name]()  # type: ignore[operator]
            if r:
                times[name].append(time.perf_counter() - t0)
    return times


def report(times: dict[str, list[float]], label: str) -> None:
    a, b = times["fused"], times["two modules"]
    ratio = statistics.median(x / y for x, y in zip(a, b, strict=True))
    print(f"{label}: fused {statistics.median(a) * 1e3:7.1f} ms, two modules {statistics.median(b) * 1e3:7.1f} ms, "
          f"paired ratio {ratio:.3f}", flush=True)


def shared_qkv(rounds: int) -> None:
    """W5's neuro block step, q/k/v through ``shared_input`` against three separate calls."""
    size = WORKLOADS["W5"].sizes["full"]
    torch.manual_seed(0)
    block = TokenBlock(size["dim"], size["heads"], "neuro")
    x = (torch.randn(size["T"], size["B"], size["hw"] ** 2, size["dim"]) * 1.5 + 0.8).requires_grad_()
    g = torch.randn(x.shape)

    def step(shared: bool) -> None:
        block.share_qkv = shared
        block.zero_grad(set_to_none=True)
        x.grad = None
        block(x).backward(g)

    times = round_robin({"shared": lambda: step(True), "separate": lambda: step(False)}, rounds)
    a, b = times["shared"], times["separate"]
    ratio = statistics.median(p / q for p, q in zip(a, b, strict=True))
    print(f"W5 block step: q, k, v shared {statistics.median(a) * 1e3:.1f} ms, separate "
          f"{statistics.median(b) * 1e3:.1f} ms, paired ratio {ratio:.3f}", flush=True)


def batch_statistics(rounds: int) -> None:
    """One pass of sums and squares against two passes and ``torch.var_mean``, with their largest differences."""
    import numpy as np

    from neuro.backends import _numba_norm as nn_
    from neuro.backends._fused_bn_lif import _var_mean
    from neuro.backends._parallel import blocks, run_blocks

    def two_passes(z3: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rows, channels, length = z3.shape
        partial = np.zeros((blocks(rows, nn_.ROWS), 2, channels))
        z2 = z3.reshape(rows, -1)
        zero = np.zeros(channels)
        run_blocks(nn_.paired_sums, rows, nn_.ROWS, z2, z2, length, zero, zero, partial, work=z3.size)
        mean = partial.sum(axis=0)[0] / (rows * length)
        run_blocks(nn_.paired_sums, rows, nn_.ROWS, z2, z2, length, mean, mean, partial, work=z3.size)
        return mean, partial.sum(axis=0)[1] / (rows * length)

    for shape in ((8192, 256, 1), (8192, 1024, 1), (512, 12, 900)):
        z = torch.randn(shape) * 1.5 + 3.0
        t = torch.from_numpy
        var_t, mean_t = torch.var_mean(z.double(), dim=(0, 2), correction=0)
        for name, (mean, var) in (("one pass", _var_mean(z.numpy())), ("two passes", two_passes(z.numpy()))):
            print(f"{shape} {name}: largest relative difference from torch.var_mean (float64): mean "
                  f"{float(((t(mean) - mean_t).abs() / mean_t.abs()).max()):.1e}, variance "
                  f"{float(((t(var) - var_t).abs() / var_t).max()):.1e}")
        times = round_robin({"one": lambda z=z: _var_mean(z.numpy()), "two": lambda z=z: two_passes(z.numpy()),
                             "torch": lambda z=z: torch.var_mean(z, dim=(0, 2))}, rounds)
        print(f"{shape}: one pass {statistics.median(times['one']) * 1e3:.2f} ms, two passes "
              f"{statistics.median(times['two']) * 1e3:.2f} ms, torch.var_mean "
              f"{statistics.median(times['torch']) * 1e3:.2f} ms", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--statistics", action="store_true")
    parser.add_argument("--qkv", action="store_true")
    args = parser.parse_args()
    if args.statistics:
        batch_statistics(args.rounds)
        return
    if args.qkv:
        shared_qkv(args.rounds)
        return
    size = WORKLOADS["W5"].sizes["full"]
    t, b, dim, hw = size["T"], size["B"], size["dim"], size["hw"]
    torch.manual_seed(0)
    fused = TokenBlock(dim, size["heads"], "neuro")
    plain = copy.deepcopy(fused)
    plain.fused = {}  # BatchNorm then LIF, as separate modules
    x = (torch.randn(t, b, hw * hw, dim) * 1.5 + 0.8).requires_grad_()
    g = torch.randn(t, b, hw * hw, dim)
    print(f"W5 block: autograd keeps {saved_mib(fused, x):.1f} MiB fused, {saved_mib(plain, x):.1f} MiB as two "
          f"modules")

    def step(block: nn.Module):
        def run() -> None:
            block.zero_grad(set_to_none=True)
            x.grad = None
            block(x).backward(g)
        return run

    report(round_robin({"fused": step(fused), "two modules": step(plain)}, args.rounds), "W5 block step")
    for channels in (256, 1024):
        pair = BatchNormNeuron(nn.BatchNorm1d(channels), w5_node(), channels_last=True)
        norm, neuron = copy.deepcopy(pair.norm), w5_node()
        z0 = torch.randn(t, b, hw * hw, channels) * 2 + 0.5
        gz = torch.randn(z0.shape)

        def pair_fused(pair=pair, z0=z0, gz=gz) -> None:
            with backends.use("fused"):
                pair(z0.clone().requires_grad_())[0].backward(gz)

        def pair_plain(norm=norm, neuron=neuron, z0=z0, gz=gz, channels=channels) -> None:
            z = z0.clone().requires_grad_()
            with backends.use("fused"):
                neuron(norm(z.reshape(-1, channels)).reshape(z.shape))[0].backward(gz)

        report(round_robin({"fused": pair_fused, "two modules": pair_plain}, args.rounds),
               f"BatchNorm1d({channels}) + LIF on {tuple(z0.shape)}, forward + backward")


if __name__ == "__main__":
    main()
