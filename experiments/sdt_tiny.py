"""Tiny spike-driven transformers (V1 and Meta-SpikeFormer V2) trained with the papers' recipe, on CPU.

Two stages, as Meta-SpikeFormer trains: (1) from scratch at T = 1, (2) fine-tune the same weights at
T = 4 with the TET loss. Then it reports test accuracy, the firing rate of every spiking layer on
the test set, and per-layer operation counts and per-chip energy in the papers' convention
(``neuro.analysis.count_ops`` on the re-parameterised model, ``hardware_models.energy.estimate``). Data:

* ``digits``: scikit-learn's bundled 8×8 handwritten digits (1,797 images), scaled to [0, 1] and
  upsampled to 32×32 (bilinear), repeated over T (direct encoding); stratified 80/20 split, seed 0;
* ``nmnist``: the real N-MNIST subset in ``../shared/data/nmnist/slayer_NMNISTsmall`` (1,000 training
  and 100 test recordings), events binned into T frames of event counts (tonic's ``ToFrame``), 2×34×34.

This script exists because the dataset registry was not yet on ``main`` when the models landed (and
scikit-learn's digits are not an event dataset); the ``*_tiny_nmnist_t1/_t4.toml`` files next to it
run the same recipe on N-MNIST through ``neuro run`` once ``neuro.data`` is there.

Usage (from the repository root; ``PYTHONPATH=.`` is not needed once neuro is installed)::

    PYTHONPATH=. python experiments/sdt_tiny.py --model sdt --data digits
    PYTHONPATH=. python experiments/sdt_tiny.py --model meta --data nmnist --out runs/meta_tiny_nmnist
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from neuro.core.simulate import simulate
from neuro.models import build_model
from neuro.training import TrainConfig, fit

REPO = Path(__file__).resolve().parents[1]
NMNIST = REPO.parent / "shared" / "data" / "nmnist" / "slayer_NMNISTsmall"

MODELS = {
    "sdt": {"name": "sdt", "embed_dim": 64, "depth": 1, "num_heads": 4, "pooling": "0011"},
    "meta": {"name": "meta_spikeformer", "embed_dims": [16, 32, 64, 64], "depths": [1, 1, 1, 1, 1], "num_heads": 4,
             "bn_eps": 1e-2},  # see MetaSpikeFormerConfig.bn_eps
}


class Frames(Dataset):
    """``(x, label)`` with ``x`` of shape ``(T, C, H, W)``; static images are repeated over T."""

    def __init__(self, frames: torch.Tensor, labels: np.ndarray, steps: int | None = None) -> None:
        self.frames, self.labels, self.steps = frames, [int(v) for v in labels], steps
        self.num_classes = int(max(self.labels)) + 1
        self.input_shape = tuple(frames.shape[-3:])

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        x = self.frames[i]
        return (x.unsqueeze(0).expand(self.steps, *x.shape) if self.steps else x), self.labels[i]


def digits(steps: int) -> tuple[Frames, Frames]:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    data = load_digits()
    images = torch.tensor(data.images / 16.0, dtype=torch.float32).unsqueeze(1)  # (N, 1, 8, 8)
    images = F.interpolate(images, size=(32, 32), mode="bilinear", align_corners=False)
    tr, te = train_test_split(np.arange(len(images)), test_size=0.2, stratify=data.target, random_state=0)
    return Frames(images[tr], data.target[tr], steps), Frames(images[te], data.target[te], steps)


def _read_bs2(path: Path) -> np.ndarray:
    """Events of an N-MNIST ``.bs2``/``.bin`` file (5 bytes per event; PAPERS §6.1) in tonic's dtype."""
    raw = np.fromfile(path, dtype=np.uint8).reshape(-1, 5).astype(np.int64)
    events = np.zeros(len(raw), dtype=[("x", "<i2"), ("y", "<i2"), ("t", "<i8"), ("p", "<i2")])
    events["x"], events["y"], events["p"] = raw[:, 0], raw[:, 1], raw[:, 2] >> 7
    events["t"] = ((raw[:, 2] & 0x7F) << 16) | (raw[:, 3] << 8) | raw[:, 4]
    return events


def nmnist(steps: int) -> tuple[Frames, Frames]:
    import tonic.transforms as tt

    to_frames = tt.ToFrame(sensor_size=(34, 34, 2), n_time_bins=steps)

    def split(listing: str) -> Frames:
        rows = [line.split() for line in (NMNIST / listing).read_text().splitlines()[1:] if line.strip()]
        frames = [torch.from_numpy(to_frames(_read_bs2(NMNIST / f"{i}.bs2")).astype(np.float32)) for i, _ in rows]
        return Frames(torch.stack(frames), np.array([int(c) for _, c in rows]))  # (N, T, 2, 34, 34)

    return split("train1K.txt"), split("test100.txt")


@torch.no_grad()
def firing_rates(model: torch.nn.Module, data: Frames, batch: int = 100) -> dict[str, float]:
    """Mean spike rate of every LIF over the whole test set (spikes per neuron per step)."""
    model.eval()
    sums: dict[str, float] = {}
    count = 0
    for start in range(0, len(data), batch):
        xs = torch.stack([data[i][0] for i in range(start, min(start + batch, len(data)))], dim=1)
        trace = simulate(model, xs, record=True)
        for key, s in trace.records.items():
            if key.endswith(".spikes"):
                sums[key[: -len(".spikes")]] = sums.get(key[: -len(".spikes")], 0.0) + float(s.mean()) * xs.shape[1]
        count += xs.shape[1]
    return {k: v / count for k, v in sums.items()}


def energy(model: torch.nn.Module, data: Frames, samples: int = 100) -> dict:
    """Per-layer counts and per-chip energy in the papers' convention, on ``samples`` test samples.

    Counted on the re-parameterised model (BN folded, RepConv and SepConv pairs merged into single
    convs), the form the papers count (PAPERS §5.2).
    """
    from hardware_models.chips import CHIPS
    from hardware_models.energy import estimate
    from neuro.analysis import count_ops
    from neuro.errors import NeuroError
    from neuro.layers.reparam import reparameterize

    xs = torch.stack([data[i][0] for i in range(min(samples, len(data)))], dim=1)
    counts = count_ops(reparameterize(model, merge_separable=True), xs)
    layers = [{"name": x.name, "module": x.module, "kind": x.kind, "input_rate": round(x.input_rate, 4),
               "macs_per_step": x.macs_per_step, "synops": x.synops, "input_binary": x.input_binary}
              for x in counts if x.kind in ("synapse", "attention")]
    chips = {}
    for chip in CHIPS:
        try:
            report = estimate(counts, chip, "sdt")
        except NeuroError as exc:  # a chip without the figures this convention needs
            chips[chip] = {"error": str(exc)}
            continue
        chips[chip] = {"total_uJ": report.total * 1e6, "notes": list(report.notes),
                       "layers_uJ": {x.name: x.total * 1e6 for x in report.layers if x.total}}
    return {"samples": xs.shape[1], "layers": layers, "chips": chips}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", choices=sorted(MODELS), default="sdt")
    parser.add_argument("--data", choices=("digits", "nmnist"), default="digits")
    parser.add_argument("--epochs", type=int, default=8, help="stage 1 (T = 1) epochs")
    parser.add_argument("--finetune-epochs", type=int, default=3, help="stage 2 (T = 4, TET) epochs")
    parser.add_argument("--steps", type=int, default=4, help="T of the fine-tune stage")
    parser.add_argument("--optimizer", default="lambc", help="lambc (V2), lamb (V1) or adamw")
    parser.add_argument("--lr", type=float, default=5e-3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    out_dir = Path(args.out or f"runs/{args.model}_tiny_{args.data}")
    out_dir.mkdir(parents=True, exist_ok=True)
    load = digits if args.data == "digits" else nmnist

    results: dict = {"model": MODELS[args.model], "data": args.data, "stages": []}
    train, test = load(1)
    model = build_model(MODELS[args.model], train.input_shape, train.num_classes)
    results["parameters"] = sum(p.numel() for p in model.parameters())
    print(f"{args.model} on {args.data}: {results['parameters']:,} parameters, input {train.input_shape}")
    stages = [(1, args.epochs, "ce_mean", args.lr),
              (args.steps, args.finetune_epochs, "tet", args.lr / 5)]
    for steps, epochs, loss, lr in stages:
        if steps != train[0][0].shape[0]:
            train, test = load(steps)
        cfg = TrainConfig(epochs=epochs, batch_size=32, eval_batch_size=100, optimizer=args.optimizer, lr=lr,
                          weight_decay=0.05, warmup_epochs=1 if epochs > 2 else 0, min_lr=lr / 100, loss=loss,
                          loss_options={"label_smoothing": 0.1}, progress=False, threads=args.threads)
        t0 = time.perf_counter()
        history = fit(model, train, test, cfg, seed=args.seed, run_dir=out_dir / f"T{steps}")
        rates = firing_rates(model, test)
        stage = {"T": steps, "loss": loss, "epochs": epochs, "test_accuracy": history[-1]["test_accuracy"],
                 "seconds": round(time.perf_counter() - t0, 1), "firing_rates": rates,
                 "energy": energy(model, test)}
        results["stages"].append(stage)
        print(f"T={steps}: test accuracy {stage['test_accuracy']:.3f} ({stage['seconds']} s)")
        print("  firing rates: " + ", ".join(f"{k} {v:.3f}" for k, v in rates.items()))
        print("  energy per sample (SDT convention): " + ", ".join(
            f"{chip} {e['total_uJ']:.4g} uJ" for chip, e in stage["energy"]["chips"].items() if "total_uJ" in e))
    (out_dir / "metrics.json").write_text(json.dumps(results, indent=2))
    print(f"wrote {out_dir / 'metrics.json'}")


if __name__ == "__main__":
    main()
