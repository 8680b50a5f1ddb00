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

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import tomli_w
from torch import nn

from neuro.config import apply_overrides, from_mapping, load_toml, to_dict
from neuro.errors import CheckpointError, ConfigError, unknown_name
from neuro.models import build_model
from neuro.tasks.classify import ClassifyConfig, run_classify
from neuro.tasks.lsm import LSMTaskConfig, run_lsm
from neuro.tasks.zero_shot import ZeroShotConfig, run_zero_shot
from neuro.training import CHECKPOINT_NAME, load_checkpoint, restore_model

__all__ = ["TASKS", "ClassifyConfig", "Experiment", "TaskEntry", "build_from_checkpoint", "load_experiment",
           "run_experiment"]


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
    # the checkpoint holds the trained weights: a `pretrained` start point is neither needed nor loaded
    # (a fine-tuned run must reload even where its stage-1 run folder is gone or relative to elsewhere)
    table = {k: v for k, v in exp.settings.model.items() if k != "pretrained"}
    model = build_model(table, tuple(stored["input_shape"]), int(stored["num_classes"]))
    restore_model(model, ckpt)
    model.eval()
    return model, exp


#: Registry of experiment tasks. One line per task.
TASKS: dict[str, TaskEntry] = {
    "classify": TaskEntry(ClassifyConfig, run_classify),
    "lsm": TaskEntry(LSMTaskConfig, run_lsm),
    "zero_shot": TaskEntry(ZeroShotConfig, run_zero_shot),
}
