"""The ``classify`` task: train a model on a dataset, then evaluate, plot and checkpoint it.

Tables: ``[data]`` (-> :func:`neuro.data.build_dataset`; ``[test_data]`` overrides keys for the test
split), ``[model]`` (-> :func:`neuro.models.build_model`) and ``[train]``
(-> :class:`neuro.training.TrainConfig`). Writes ``metrics.json``, ``checkpoint.safetensors``,
``raster.png`` (spikes of every layer for one test sample) and ``curves.png`` into the run folder.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from neuro.data import build_dataset, dataset_config
from neuro.models import build_model, model_config
from neuro.training import TrainConfig, fit, seed_everything

if TYPE_CHECKING:
    from neuro.experiment import Experiment

__all__ = ["ClassifyConfig", "run_classify"]


@dataclass(frozen=True)
class ClassifyConfig:
    """Settings of the ``classify`` task."""

    data: dict[str, Any]
    model: dict[str, Any]
    train: TrainConfig = field(default_factory=TrainConfig)
    test_data: dict[str, Any] = field(default_factory=dict)  # overrides of [data] for the test split

    def __post_init__(self) -> None:  # fail on a bad [data] or [model] table before any data is loaded
        dataset_config(self.data)
        dataset_config({**self.data, **self.test_data})
        model_config(self.model)


def run_classify(exp: Experiment, run_dir: Path, resume: bool) -> dict[str, Any]:
    cfg: ClassifyConfig = exp.settings
    t0 = time.perf_counter()
    train_set = build_dataset(cfg.data, "train")
    test_set = build_dataset({**cfg.data, **cfg.test_data}, "test")
    print(f"[{exp.name}] data: {len(train_set)} train / {len(test_set)} test samples, "
          f"input {tuple(train_set.input_shape)} per step, {train_set.num_classes} classes "
          f"({time.perf_counter() - t0:.1f}s)")
    seed_everything(exp.seed)
    model = build_model(cfg.model, train_set.input_shape, train_set.num_classes)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"[{exp.name}] model: {cfg.model.get('name')} with {n_params:,} parameters")
    stored = {"experiment": exp.raw, "input_shape": list(train_set.input_shape),
              "num_classes": int(train_set.num_classes)}
    history = fit(model, train_set, test_set, cfg.train, seed=exp.seed, run_dir=run_dir, resume=resume,
                  config=stored)
    final = history[-1]
    metrics = {"name": exp.name, "task": exp.task, "parameters": n_params, "history": history,
               "test_accuracy": final.get("test_accuracy"), "train_seconds": sum(r["seconds"] for r in history)}
    metrics.update(_figures(model, test_set, run_dir, exp.name, history))
    (run_dir / "metrics.json").write_text(json.dumps(metrics, indent=2))
    print(f"[{exp.name}] test accuracy {final.get('test_accuracy', float('nan')):.3f} after {len(history)} epochs; "
          f"outputs in {run_dir}/")
    return metrics


def _figures(model: nn.Module, test_set: Any, run_dir: Path, name: str,
             history: list[dict[str, Any]]) -> dict[str, Any]:
    """Raster of every spiking layer for one test sample, and the training curves."""
    import matplotlib.pyplot as plt

    from neuro.core.simulate import simulate
    from neuro.plot import plot_history, plot_raster

    x, label = test_set[0]
    model.eval()
    device = next(model.parameters()).device
    with torch.no_grad():
        trace = simulate(model, x.unsqueeze(1).to(device), record=True)
    spikes = {k.rsplit(".", 1)[0]: v[:, 0] for k, v in trace.records.items() if k.endswith(".spikes")}
    rates = {k: float(v.float().mean()) for k, v in spikes.items()}
    fig = plot_raster(spikes, title=f"{name}: test sample 0 (label {label})")
    fig.savefig(run_dir / "raster.png", dpi=110)
    plt.close(fig)
    fig = plot_history(history, title=name)
    fig.savefig(run_dir / "curves.png", dpi=110)
    plt.close(fig)
    return {"firing_rates_sample0": rates}
