"""A Meta-SpikeFormer training step: neuro against the same model built on SpikingJelly's LIF.

The official Meta-SpikeFormer code builds every neuron as SpikingJelly's
``MultiStepLIFNode(tau=2.0, detach_reset=True, backend="cupy")``; in SpikingJelly 2.0 that node is
``LIFNode(step_mode="m")``, which picks its own CUDA implementation (its native kernels when built,
else its Triton kernels). :func:`meta_step` builds :class:`~neuro.models.MetaSpikeFormer` twice with
the same weights: once with neuro's LIF (automatic backend: the Triton kernels on a GPU) and once with
every neuron swapped for that SpikingJelly node (:class:`SJNeuronSetting`), so the two differ only in
their neurons. One step is forward, cross-entropy on the time-averaged logits, backward and AdamW.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, replace

import torch
from torch import Tensor, nn

from neuro.bench.workloads import Case
from neuro.layers.neuron_setting import NeuronSetting
from neuro.models.meta_spikeformer import VARIANTS, MetaSpikeFormer, MetaSpikeFormerConfig
from neuro.neurons.lif import LIF

__all__ = ["SIZES", "SJLIF", "SJNeuronSetting", "meta_step", "neuron_mismatches"]

#: ``full``: the 15.1M ImageNet variant at 224x224; ``tiny``: a seconds-long dry run on CPU.
SIZES: dict[str, dict[str, object]] = {
    "full": {"variant": "meta-15m", "T": 4, "B": 16, "hw": 224, "classes": 1000},
    "tiny": {"dims": (8, 16, 16, 24), "depths": (1, 1, 1, 1, 1), "heads": 2, "T": 2, "B": 2, "hw": 32,
             "classes": 10},
}


class SJLIF(nn.Module):
    """SpikingJelly's multi-step ``LIFNode`` behind neuro's neuron interface (``x -> (spikes, None)``).

    Its membrane is reset before every sequence, as ``functional.reset_net`` does between batches.
    """

    def __init__(self, setting: NeuronSetting, v_threshold: float) -> None:
        super().__init__()
        from spikingjelly.activation_based import surrogate
        from spikingjelly.activation_based.neuron import LIFNode

        sg = setting.surrogate
        if sg.get("name") != "sigmoid":
            raise ValueError(f"SJLIF supports the sigmoid surrogate only, got {sg!r}")
        self.node = LIFNode(tau=setting.tau, decay_input=True, v_threshold=v_threshold, v_reset=0.0,
                            detach_reset=setting.detach_reset,
                            surrogate_function=surrogate.Sigmoid(alpha=float(sg.get("alpha", 4.0))), step_mode="m")

    def forward(self, x: Tensor) -> tuple[Tensor, None]:
        self.node.reset()
        return self.node(x), None


@dataclass(frozen=True)
class SJNeuronSetting(NeuronSetting):
    """:class:`NeuronSetting` whose neurons are SpikingJelly ``LIFNode`` s (:class:`SJLIF`)."""

    def lif(self, v_threshold: float | None = None) -> SJLIF:  # type: ignore[override]
        return SJLIF(self, self.v_threshold if v_threshold is None else v_threshold)


def _config(size: dict[str, object]) -> MetaSpikeFormerConfig:
    if "variant" in size:
        return VARIANTS[str(size["variant"])].config
    return MetaSpikeFormerConfig(embed_dims=size["dims"], depths=size["depths"], num_heads=int(size["heads"]))


@contextlib.contextmanager
def _deterministic() -> Iterator[None]:
    """cuDNN's deterministic algorithms and no TF32 while spikes are compared: otherwise two runs of the same
    model differ in the last bits of a convolution, which flip threshold crossings deeper in the network."""
    cudnn, matmul = torch.backends.cudnn, torch.backends.cuda.matmul
    saved = (cudnn.deterministic, cudnn.benchmark, cudnn.allow_tf32, matmul.allow_tf32)
    cudnn.deterministic, cudnn.benchmark, cudnn.allow_tf32, matmul.allow_tf32 = True, False, False, False
    try:
        yield
    finally:
        cudnn.deterministic, cudnn.benchmark, cudnn.allow_tf32, matmul.allow_tf32 = saved


def _neurons(model: nn.Module) -> dict[str, nn.Module]:
    return {name: m for name, m in model.named_modules() if isinstance(m, LIF | SJLIF)}


def _build(impl: str, size: dict[str, object], dtype: torch.dtype, seed: int, device: str
           ) -> tuple[MetaSpikeFormer, Tensor, Tensor]:
    """The model of ``impl`` (same weights for every ``impl`` under one seed), its input and labels."""
    if impl not in ("neuro", "spikingjelly"):
        raise ValueError(f"meta_step: impl must be 'neuro' or 'spikingjelly', got {impl!r}")
    cfg = _config(size)
    if impl == "spikingjelly":
        cfg = replace(cfg, neuron=SJNeuronSetting())
    torch.manual_seed(seed)  # the same draw of every weight in both models (neurons hold no parameters)
    model = MetaSpikeFormer(cfg, in_channels=3, num_classes=int(size["classes"])).to(device, dtype)
    g = torch.Generator().manual_seed(seed)
    t, b, hw = int(size["T"]), int(size["B"]), int(size["hw"])
    image = torch.randn(b, 3, hw, hw, generator=g, dtype=torch.float64)
    x = image.expand(t, *image.shape).to(device, dtype).contiguous()  # static images repeated over T
    y = torch.randint(0, int(size["classes"]), (b,), generator=g).to(device)
    return model, x, y


def meta_step(impl: str, size: dict[str, object], dtype: torch.dtype = torch.float32, seed: int = 0,
              device: str = "cpu") -> Case:
    """One implementation (``"neuro"`` or ``"spikingjelly"``) of the training step; ``spikes()`` records every
    neuron's output (same module names in both models) on the step's input, before any update."""
    model, x, y = _build(impl, size, dtype, seed, device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-5)

    def step() -> None:
        model.train()
        opt.zero_grad(set_to_none=True)
        loss = nn.functional.cross_entropy(model(x).mean(0), y)
        loss.backward()
        opt.step()

    def spikes() -> dict[str, Tensor]:
        rec: dict[str, Tensor] = {}
        hooks = [m.register_forward_hook(lambda _m, _i, out, name=name: rec.__setitem__(name, out[0].detach()))
                 for name, m in _neurons(model).items()]
        try:
            model.train()  # batch statistics, as in the step (eval-mode BN at initialisation leaves most silent)
            with torch.no_grad(), _deterministic():
                model(x)
        finally:
            for h in hooks:
                h.remove()
        return rec

    return Case(step, spikes)


def neuron_mismatches(size: dict[str, object], dtype: torch.dtype = torch.float32, seed: int = 0,
                      device: str = "cpu") -> tuple[int, int]:
    """``(differing, total)`` spikes of every SpikingJelly neuron run on the very input its neuro counterpart got
    in one forward pass of the neuro model.

    The whole-network comparison of :func:`meta_step` compounds: a membrane one rounding step away from the
    threshold flips a spike, which changes every later layer's input. This compares the neurons alone.
    """
    model, x, _ = _build("neuro", size, dtype, seed, device)
    peers = _neurons(_build("spikingjelly", size, dtype, seed, device)[0])
    counts = [0, 0]

    def compare(name: str, inputs: tuple[Tensor, ...], out: tuple[Tensor, ...]) -> None:
        theirs, _ = peers[name](inputs[0])
        counts[0] += int((theirs != out[0]).sum())
        counts[1] += out[0].numel()

    hooks = [m.register_forward_hook(lambda _m, i, o, name=name: compare(name, i, o))
             for name, m in _neurons(model).items()]
    try:
        model.train()
        with torch.no_grad():
            model(x)
    finally:
        for h in hooks:
            h.remove()
    return counts[0], counts[1]
