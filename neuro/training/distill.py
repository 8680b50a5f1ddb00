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

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import Dataset

from neuro.core.simulate import simulate
from neuro.errors import ConfigError, ShapeError
from neuro.training.loop import TrainConfig, fit, resolve_device
from neuro.training.losses import build_loss

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
                  resume: bool = False, log: Callable[[str], None] = print) -> list[dict[str, Any]]:
    """Train ``student`` (which has ``forward_heads``) against a frozen ``teacher``; per-epoch history.

    :func:`~neuro.training.fit` with the distillation loss as its training step (same optimiser,
    schedule, evaluation, checkpoints and resume). Evaluation uses the student's ordinary forward (in
    eval mode the two heads averaged) and ``cfg.loss``.
    """
    if not hasattr(student, "forward_heads"):
        raise ConfigError(f"{type(student).__name__} has no distillation head (forward_heads); "
                          "build it with distillation = true")
    teacher.to(resolve_device(cfg.device)).eval().requires_grad_(False)
    base = build_loss(cfg.loss, **cfg.loss_options)

    def batch_loss(model: nn.Module, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        with torch.no_grad():
            z = simulate(teacher, x).output
        out, out_kd = model.forward_heads(x)
        return distillation_loss(out, out_kd, z, y, base, distill.alpha, distill.tau, distill.kind), out

    return fit(student, train_set, test_set, cfg, seed=seed, run_dir=run_dir, resume=resume, log=log,
               batch_loss=batch_loss)
