r"""Knowledge distillation through a second head (DeiT style), as Meta-SpikeFormer fine-tunes at T = 4.

The student has a class head and a distillation head (``forward_heads(x) -> (out, out_kd)``, both
``(T, B, C)``); the teacher is any frozen model giving logits ``(B, C)`` or ``(T, B, C)``. With
time-averaged student outputs :math:`\bar o`, :math:`\bar o_{kd}` and teacher logits :math:`z`:

.. math::

    L = (1-\alpha)\,L_{base}(o, y) + \alpha\,
        \begin{cases} \mathrm{CE}(\bar o_{kd}, \arg\max z) & \text{hard} \\
                      \tau^2\,\mathrm{KL}\big(\mathrm{softmax}(z/\tau)\,\|\,\mathrm{softmax}(\bar o_{kd}/\tau)\big)
                      & \text{soft} \end{cases}

(the official V2 recipe: hard, :math:`\alpha = 0.5`, :math:`\tau = 1`, teacher CAFormer-B36).
:func:`fit_distilled` is :func:`~neuro.training.fit`'s loop with this loss; checkpoints hold the
student only.

Example:
    >>> import torch
    >>> out = torch.zeros(2, 1, 3); kd = torch.tensor([[[0.0, 2.0, 0.0]]] * 2)
    >>> teacher = torch.tensor([[0.1, 5.0, 0.2]])
    >>> base = lambda o, y: torch.nn.functional.cross_entropy(o.mean(0), y)
    >>> round(distillation_loss(out, kd, teacher, torch.tensor([1]), base).item(), 4)   # (ln 3 + CE(kd, 1)) / 2
    0.6691
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset

from neuro.core.simulate import simulate
from neuro.errors import ConfigError, ShapeError
from neuro.training.checkpoint import save_checkpoint
from neuro.training.loop import CHECKPOINT_NAME, TrainConfig, collate_time_major, evaluate, resolve_device
from neuro.training.losses import build_loss, predict
from neuro.training.optim import build_optimizer, warmup_cosine

__all__ = ["DistillConfig", "distillation_loss", "fit_distilled"]


@dataclass(frozen=True)
class DistillConfig:
    """The ``[distill]`` table: how the teacher's predictions enter the loss."""

    kind: Literal["hard", "soft"] = "hard"
    alpha: float = 0.5
    tau: float = 1.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.alpha <= 1.0:
            raise ConfigError(f"distill.alpha must be in [0, 1], got {self.alpha!r}")
        if not self.tau > 0:
            raise ConfigError(f"distill.tau must be > 0, got {self.tau!r}")


def _mean_logits(x: Tensor) -> Tensor:
    return x.mean(0) if x.dim() == 3 else x


def distillation_loss(out: Tensor, out_kd: Tensor, teacher: Tensor, target: Tensor,
                      base: Callable[[Tensor, Tensor], Tensor], alpha: float = 0.5, tau: float = 1.0,
                      kind: str = "hard") -> Tensor:
    """The loss of the module docstring; ``base`` is the ordinary loss on the class head."""
    kd, z = _mean_logits(out_kd), _mean_logits(teacher).detach()
    if kd.shape != z.shape:
        raise ShapeError(f"distillation_loss: student head {tuple(kd.shape)} vs teacher {tuple(z.shape)}")
    if kind == "hard":
        distill = F.cross_entropy(kd, z.argmax(-1))
    elif kind == "soft":
        distill = F.kl_div(F.log_softmax(kd / tau, -1), F.log_softmax(z / tau, -1), reduction="batchmean",
                           log_target=True) * tau * tau
    else:
        raise ConfigError(f"distill.kind must be 'hard' or 'soft', got {kind!r}")
    return (1.0 - alpha) * base(out, target) + alpha * distill


def fit_distilled(student: nn.Module, teacher: nn.Module, train_set: Dataset, test_set: Dataset | None,
                  cfg: TrainConfig, distill: DistillConfig, *, seed: int = 0, run_dir: str | Path | None = None,
                  log: Callable[[str], None] = print) -> list[dict[str, Any]]:
    """Train ``student`` (which has ``forward_heads``) against a frozen ``teacher``; per-epoch history.

    Same optimiser, schedule, evaluation and checkpoint as :func:`~neuro.training.fit` (no resume).
    Evaluation uses the student's ordinary forward (in eval mode the two heads averaged).
    """
    if not hasattr(student, "forward_heads"):
        raise ConfigError(f"{type(student).__name__} has no distillation head (forward_heads); "
                          "build it with distillation = true")
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    device = resolve_device(cfg.device)
    student.to(device)
    teacher.to(device).eval().requires_grad_(False)
    base = build_loss(cfg.loss, **cfg.loss_options)
    optimizer = build_optimizer(cfg.optimizer, student.parameters(), cfg.lr, cfg.weight_decay, cfg.momentum)
    steps = -(-len(train_set) // cfg.batch_size)  # type: ignore[arg-type]
    scheduler = (warmup_cosine(optimizer, cfg.epochs * steps, cfg.warmup_epochs * steps, cfg.min_lr)
                 if cfg.schedule == "cosine" else None)
    test_loader = (DataLoader(test_set, cfg.eval_batch_size, collate_fn=collate_time_major)
                   if test_set is not None else None)
    history: list[dict[str, Any]] = []
    for epoch in range(cfg.epochs):
        loader = DataLoader(train_set, cfg.batch_size, shuffle=True, collate_fn=collate_time_major,
                            generator=torch.Generator().manual_seed(seed * 1_000_003 + epoch))
        student.train()
        t0, total, correct, loss_sum = time.perf_counter(), 0, 0, 0.0
        for x, y in loader:
            x, y = x.to(device), y.to(device)
            with torch.no_grad():
                z = simulate(teacher, x).output
            out, out_kd = student.forward_heads(x)
            loss = distillation_loss(out, out_kd, z, y, base, distill.alpha, distill.tau, distill.kind)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.grad_clip:
                nn.utils.clip_grad_norm_(student.parameters(), cfg.grad_clip)
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            loss_sum += loss.item() * len(y)
            correct += int((predict(out.detach()) == y).sum())
            total += len(y)
        row: dict[str, Any] = {"epoch": epoch + 1, "train_loss": loss_sum / total, "train_accuracy": correct / total,
                               "lr": optimizer.param_groups[0]["lr"], "seconds": time.perf_counter() - t0}
        if test_loader is not None:
            ev = evaluate(student, test_loader, base, device)
            row.update(test_loss=ev["loss"], test_accuracy=ev["accuracy"])
        history.append(row)
        log(f"epoch {epoch + 1}/{cfg.epochs}  distill loss {row['train_loss']:.4f}  acc {row['train_accuracy']:.3f}"
            + (f"  |  test acc {row['test_accuracy']:.3f}" if "test_accuracy" in row else ""))
        if run_dir is not None:
            save_checkpoint(Path(run_dir) / CHECKPOINT_NAME, student, optimizer=optimizer, scheduler=scheduler,
                            epoch=epoch + 1, metrics={"history": history})
    return history
