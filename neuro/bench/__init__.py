"""``neuro bench``: neuro against snnTorch, SpikingJelly and Norse on the same maths, same machine.

:data:`WORKLOADS` is the registry (name -> :class:`Workload`); :func:`neuro.bench.run.run` runs a
selection, verifying first that every implementation produces identical spikes, then timing them
round-robin and writing a JSON report. Workloads:

====  =========================================================================================
W1    MLP 2312-512-10 LIF, T=25, B=128, input spike density 5 %: one training step
W2    conv SNN 2x34x34 12c5-mp2-32c5-mp2-fc10, T=16, B=32: one training step
W3    one LIF layer, T=64 x 1,048,576 neurons: forward (``W3-fwd``), forward+backward (``W3-train``)
W4    LSM inference: 2312 inputs (2 %) -> 1000 LIF, 10 % recurrent, T=300, B=64
W5    spike-driven attention block (SDSA-V1 + MLP), N=64 tokens, D=256, 8 heads, T=4, B=32: fwd+bwd
====  =========================================================================================

``W1-mem`` is W1 at T=64 measured for peak training memory instead of time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from neuro.bench.lsm import lsm
from neuro.bench.sdsa import sdsa
from neuro.bench.workloads import Case, conv_net, lif_layer, mlp

__all__ = ["WORKLOADS", "Case", "Workload"]

_ALL = ("neuro", "snntorch", "spikingjelly", "norse", "torch")


@dataclass(frozen=True)
class Workload:
    """A benchmark: ``build(impl, size, dtype) -> Case`` plus its sizes and the goal ratio."""

    title: str
    build: Callable[..., Case]
    sizes: dict[str, dict[str, int]]
    goal: float
    impls: tuple[str, ...] = _ALL
    peers: tuple[str, ...] = ("snntorch", "spikingjelly", "norse")
    kwargs: dict[str, Any] = field(default_factory=dict)


_W1 = {"full": {"T": 25, "B": 128, "inputs": 2312, "hidden": 512, "outputs": 10, "density_pct": 5},
       "tiny": {"T": 4, "B": 3, "inputs": 40, "hidden": 12, "outputs": 4, "density_pct": 20}}
_W3 = {"full": {"T": 64, "N": 1 << 20}, "tiny": {"T": 5, "N": 300}}

#: Registry of the benchmark workloads.
WORKLOADS: dict[str, Workload] = {
    "W1": Workload("MLP BPTT 2312-512-10, T=25, B=128, 5% input spikes, one training step", mlp, _W1, 1 / 3),
    "W2": Workload("conv SNN BPTT 12c5-mp2-32c5-mp2-fc10, T=16, B=32, one training step", conv_net,
                   {"full": {"T": 16, "B": 32, "hw": 34}, "tiny": {"T": 3, "B": 2, "hw": 16}}, 1 / 2),
    "W3-fwd": Workload("LIF alone, T=64 x 1,048,576 neurons, forward", lif_layer, _W3, 1 / 4),
    "W3-train": Workload("LIF alone, T=64 x 1,048,576 neurons, forward + backward", lif_layer, _W3, 1 / 3,
                         kwargs={"train": True}),
    "W4": Workload("LSM inference 2312 (2%) -> 1000 LIF, 10% recurrent, T=300, B=64", lsm,
                   {"full": {"T": 300, "B": 64, "inputs": 2312, "neurons": 1000},
                    "tiny": {"T": 12, "B": 2, "inputs": 30, "neurons": 20}}, 1 / 5),
    "W5": Workload("spike-driven attention block (SDSA-V1 + MLP), N=64, D=256, 8 heads, T=4, B=32, fwd+bwd", sdsa,
                   {"full": {"T": 4, "B": 32, "dim": 256, "heads": 8, "hw": 8},
                    "tiny": {"T": 2, "B": 2, "dim": 16, "heads": 2, "hw": 3}}, 1 / 2,
                   impls=("neuro", "spikingjelly", "torch"), peers=("spikingjelly",)),
}
