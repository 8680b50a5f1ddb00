"""A small, deterministic and resumable training loop for time-major spiking networks.

:func:`fit` trains ``model`` on a dataset yielding ``(x, label)`` with ``x`` of shape ``(T, ...)``
(batched into ``(T, B, ...)`` by :func:`collate_time_major`), evaluating after every epoch and, when
given a run directory, writing a checkpoint after every epoch. Shuffling draws from a generator
seeded by ``(seed, epoch)`` and the checkpoint holds the RNG state, so a run resumed from its last
checkpoint continues exactly as an uninterrupted run would.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from neuro.core.simulate import simulate
from neuro.errors import ConfigError, ShapeError
from neuro.training.checkpoint import (
    load_checkpoint,
    restore_model,
    restore_rng,
    restore_training,
    save_checkpoint,
)
from neuro.training.losses import LOSSES, build_loss, predict
from neuro.training.optim import OPTIMIZERS, build_optimizer, warmup_cosine

__all__ = ["CHECKPOINT_NAME", "TrainConfig", "collate_time_major", "evaluate", "fit", "resolve_device"]

CHECKPOINT_NAME = "checkpoint.safetensors"


@dataclass(frozen=True)
class TrainConfig:
    """The ``[train]`` table of an experiment."""

    epochs: int = 10
    batch_size: int = 32
    eval_batch_size: int = 128
    optimizer: str = "adam"
    lr: float = 1e-3
    weight_decay: float = 0.0
    momentum: float = 0.9
    schedule: str = "cosine"
    warmup_epochs: int = 0
    min_lr: float = 0.0
    loss: str = "ce_count"
    loss_options: dict[str, Any] = field(default_factory=dict)
    grad_clip: float = 0.0
    num_workers: int = 0
    device: str = "auto"
    threads: int = 0
    progress: bool = True

    def __post_init__(self) -> None:
        for key in ("epochs", "batch_size", "eval_batch_size"):
            if getattr(self, key) < 1:
                raise ConfigError(f"train.{key} must be >= 1, got {getattr(self, key)!r}")
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(f"train.optimizer: unknown {self.optimizer!r}; expected one of {sorted(OPTIMIZERS)}")
        if self.loss not in LOSSES:
            raise ConfigError(f"train.loss: unknown {self.loss!r}; expected one of {sorted(LOSSES)}")
        if self.schedule not in ("constant", "cosine"):
            raise ConfigError(f"train.schedule must be 'constant' or 'cosine', got {self.schedule!r}")
        if self.lr <= 0:
            raise ConfigError(f"train.lr must be > 0, got {self.lr!r}")


def collate_time_major(batch: Sequence[tuple[Tensor, int]]) -> tuple[Tensor, Tensor]:
    """Stack samples ``(T, ...)`` into ``(T, B, ...)`` and labels into ``(B,)``."""
    xs, ys = zip(*batch, strict=True)
    shapes = {tuple(x.shape) for x in xs}
    if len(shapes) != 1:
        raise ShapeError(f"collate_time_major: samples have different shapes {sorted(shapes)}")
    return torch.stack(xs, dim=1), torch.as_tensor(ys, dtype=torch.long)


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        return torch.device(name)
    except RuntimeError as exc:
        raise ConfigError(f"train.device: {exc}") from None


def _loader(dataset: Dataset, batch_size: int, shuffle: bool, cfg: TrainConfig,
            generator: torch.Generator | None = None) -> DataLoader:
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, generator=generator,
                      collate_fn=collate_time_major, num_workers=cfg.num_workers)


@torch.no_grad()
def evaluate(model: nn.Module, loader: DataLoader, loss_fn: Callable[[Tensor, Tensor], Tensor],
             device: torch.device | str = "cpu") -> dict[str, float]:
    """Mean loss and accuracy of ``model`` over ``loader``."""
    was_training = model.training
    model.eval()
    total, correct, loss_sum = 0, 0, 0.0
    try:
        for x, y in loader:
            x, y = x.to(device), y.to(device)
            out = simulate(model, x).output
            loss_sum += float(loss_fn(out, y)) * len(y)
            correct += int((predict(out) == y).sum())
            total += len(y)
    finally:
        model.train(was_training)
    return {"loss": loss_sum / max(total, 1), "accuracy": correct / max(total, 1), "samples": total}


def fit(model: nn.Module, train_set: Dataset, test_set: Dataset | None, cfg: TrainConfig, *, seed: int = 0,
        run_dir: str | Path | None = None, resume: bool = False, config: Mapping[str, Any] | None = None,
        log: Callable[[str], None] = print) -> list[dict[str, Any]]:
    """Train ``model`` and return the per-epoch history (losses, accuracies, seconds).

    Args:
        model: maps ``(T, B, ...)`` to outputs ``(T, B, classes)`` (run through :func:`neuro.simulate`).
        train_set, test_set: datasets of ``(x, label)`` with ``x`` of shape ``(T, ...)``.
        cfg: training hyper-parameters.
        seed: seeds shuffling (per epoch) and is stored with the run.
        run_dir: where ``checkpoint.safetensors`` is written after every epoch.
        resume: continue from ``run_dir``'s checkpoint (epoch, weights, optimiser, schedule, RNG).
        config: the experiment's resolved config, stored in the checkpoint.
    """
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    device = resolve_device(cfg.device)
    model.to(device)
    loss_fn = build_loss(cfg.loss, **cfg.loss_options)
    optimizer = build_optimizer(cfg.optimizer, model.parameters(), cfg.lr, cfg.weight_decay, cfg.momentum)
    steps_per_epoch = -(-len(train_set) // cfg.batch_size)  # type: ignore[arg-type]
    scheduler = None
    if cfg.schedule == "cosine":
        scheduler = warmup_cosine(optimizer, cfg.epochs * steps_per_epoch, cfg.warmup_epochs * steps_per_epoch,
                                  cfg.min_lr)
    ckpt_path = Path(run_dir) / CHECKPOINT_NAME if run_dir is not None else None
    history: list[dict[str, Any]] = []
    start = 0
    if resume:
        if ckpt_path is None or not ckpt_path.is_file():
            raise ConfigError(f"cannot resume: no checkpoint at {ckpt_path}")
        ckpt = load_checkpoint(ckpt_path)
        restore_model(model, ckpt)
        restore_training(ckpt, optimizer, scheduler)
        restore_rng(ckpt)
        start, history = ckpt.epoch, list(ckpt.metrics.get("history", []))
        log(f"resumed from {ckpt_path} at epoch {start}")
    test_loader = _loader(test_set, cfg.eval_batch_size, False, cfg) if test_set is not None else None
    for epoch in range(start, cfg.epochs):
        generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
        loader = _loader(train_set, cfg.batch_size, True, cfg, generator)
        model.train()
        t0 = time.perf_counter()
        total, correct, loss_sum = 0, 0, 0.0
        bar = tqdm(loader, desc=f"epoch {epoch + 1}/{cfg.epochs}", disable=not cfg.progress, leave=False)
        for x, y in bar:
            x, y = x.to(device), y.to(device)
            out = simulate(model, x).output
            loss = loss_fn(out, y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.grad_clip:
                nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            loss_sum += loss.item() * len(y)
            correct += int((predict(out.detach()) == y).sum())
            total += len(y)
            bar.set_postfix(loss=f"{loss_sum / total:.3f}", acc=f"{correct / total:.3f}")
        row: dict[str, Any] = {"epoch": epoch + 1, "train_loss": loss_sum / total, "train_accuracy": correct / total,
                               "lr": optimizer.param_groups[0]["lr"], "seconds": time.perf_counter() - t0}
        if test_loader is not None:
            ev = evaluate(model, test_loader, loss_fn, device)
            row.update(test_loss=ev["loss"], test_accuracy=ev["accuracy"])
        history.append(row)
        log(_format_row(row, cfg.epochs))
        if ckpt_path is not None:
            save_checkpoint(ckpt_path, model, optimizer=optimizer, scheduler=scheduler, config=config,
                            epoch=epoch + 1, metrics={"history": history})
    return history


def _format_row(row: Mapping[str, Any], epochs: int) -> str:
    text = (f"epoch {row['epoch']:>3}/{epochs}  train loss {row['train_loss']:.4f}  "
            f"acc {row['train_accuracy']:.3f}")
    if "test_accuracy" in row:
        text += f"  |  test loss {row['test_loss']:.4f}  acc {row['test_accuracy']:.3f}"
    return text + f"  ({row['seconds']:.1f}s)"
