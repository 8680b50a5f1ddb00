"""Experiments as data: a TOML file names a task and its settings; :func:`run_experiment` runs it.

Every experiment file has the top-level keys ``name`` (required), ``task`` (default
``"classify"``), ``seed`` and ``description``; the remaining tables belong to the task and are
validated by the task's own frozen config dataclass (unknown keys and wrong types are errors naming
the key). :data:`TASKS` is the registry of tasks.

The ``classify`` task trains a model on a dataset::

    name = "quickstart"
    [data]              # -> neuro.data.build_dataset
    name = "nmnist"
    [model]             # -> neuro.models.build_model
    name = "conv_snn"
    [train]             # -> neuro.training.TrainConfig
    epochs = 8

and writes ``runs/<name>/``: ``config.toml`` (resolved, overrides included), ``metrics.json``,
``checkpoint.safetensors``, ``raster.png`` (spikes of every layer for one test sample) and
``curves.png``.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import tomli_w
import torch
from torch import nn

from neuro.config import apply_overrides, from_mapping, load_toml, to_dict
from neuro.errors import CheckpointError, ConfigError, unknown_name
from neuro.models import build_model
from neuro.training import CHECKPOINT_NAME, TrainConfig, fit, load_checkpoint, restore_model

__all__ = ["TASKS", "ClassifyConfig", "Experiment", "TaskEntry", "build_from_checkpoint", "load_experiment",
           "run_experiment"]


@dataclass(frozen=True)
class ClassifyConfig:
    """Settings of the ``classify`` task."""

    data: dict[str, Any]
    model: dict[str, Any]
    train: TrainConfig = field(default_factory=TrainConfig)
    test_data: dict[str, Any] = field(default_factory=dict)  # overrides of [data] for the test split


class TaskEntry(NamedTuple):
    config: type
    run: Callable[[Experiment, Path, bool], dict[str, Any]]


@dataclass(frozen=True)
class Experiment:
    """A validated experiment: common keys plus the task's settings."""

    name: str
    task: str
    seed: int
    description: str
    settings: Any
    raw: dict[str, Any]
    source: Path | None = None


_COMMON = {"name", "task", "seed", "description"}


def load_experiment(path: str | Path | Mapping[str, Any], overrides: Sequence[str] = ()) -> Experiment:
    """Read an experiment TOML (or an already parsed table) and apply ``key.path=value`` overrides."""
    source = None
    if isinstance(path, Mapping):
        raw = dict(path)
    else:
        source = Path(path)
        raw = load_toml(source)
    raw = apply_overrides(raw, list(overrides))
    name = raw.get("name")
    if not isinstance(name, str) or not name or "/" in name or name.startswith("."):
        raise ConfigError(f"{source or 'experiment'}: 'name' must be a non-empty string usable as a folder name, "
                          f"got {name!r}")
    task = raw.get("task", "classify")
    entry = TASKS.get(task)
    if entry is None:
        raise unknown_name("task", task, TASKS)
    seed = raw.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ConfigError(f"config key seed: expected an integer, got {seed!r}")
    settings = from_mapping(entry.config, {k: v for k, v in raw.items() if k not in _COMMON})
    return Experiment(name, task, seed, str(raw.get("description", "")), settings, raw, source)


def run_experiment(exp: Experiment, out_root: str | Path = "runs", resume: bool = False) -> dict[str, Any]:
    """Run ``exp``, writing its outputs to ``<out_root>/<name>/``; returns the summary metrics."""
    run_dir = Path(out_root) / exp.name
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.toml").write_text(tomli_w.dumps(to_dict(exp.raw)))
    return TASKS[exp.task].run(exp, run_dir, resume)


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _run_classify(exp: Experiment, run_dir: Path, resume: bool) -> dict[str, Any]:
    from neuro.data import build_dataset  # data sits below the runner; imported here to keep `neuro` light

    cfg: ClassifyConfig = exp.settings
    t0 = time.perf_counter()
    train_set = build_dataset(cfg.data, "train")
    test_set = build_dataset({**cfg.data, **cfg.test_data}, "test")
    print(f"[{exp.name}] data: {len(train_set)} train / {len(test_set)} test samples, "
          f"input {tuple(train_set.input_shape)} per step, {train_set.num_classes} classes "
          f"({time.perf_counter() - t0:.1f}s)")
    _seed_everything(exp.seed)
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


def build_from_checkpoint(path: str | Path) -> tuple[nn.Module, Experiment]:
    """Rebuild a model from a checkpoint written by an experiment run and load its weights.

    ``path`` is a ``checkpoint.safetensors`` file or a run directory holding one.
    """
    path = Path(path)
    if path.is_dir():
        path = path / CHECKPOINT_NAME
    ckpt = load_checkpoint(path)
    stored = ckpt.config
    if not {"experiment", "input_shape", "num_classes"} <= set(stored):
        raise CheckpointError(f"{path}: was not written by an experiment run (no experiment config stored)")
    exp = load_experiment(stored["experiment"])
    model = build_model(exp.settings.model, tuple(stored["input_shape"]), int(stored["num_classes"]))
    restore_model(model, ckpt)
    model.eval()
    return model, exp


#: Registry of experiment tasks. One line per task.
TASKS: dict[str, TaskEntry] = {
    "classify": TaskEntry(ClassifyConfig, _run_classify),
}
