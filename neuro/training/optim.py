"""Optimisers and learning-rate schedules by name, as experiment TOML files select them.

:data:`OPTIMIZERS` maps a name to ``factory(params, lr, weight_decay, momentum) -> Optimizer``;
:func:`warmup_cosine` is a per-step schedule: linear warm-up from 0 to the base rate, then a half
cosine down to ``min_lr`` (the spike-driven transformers' recipe).

Example:
    >>> import torch
    >>> opt = build_optimizer("adamw", torch.nn.Linear(2, 2).parameters(), lr=1e-3)
    >>> sched = warmup_cosine(opt, total_steps=10, warmup_steps=2)
    >>> [round(g["lr"], 6) for g in opt.param_groups]
    [0.0]
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import torch

from neuro.errors import unknown_name

__all__ = ["OPTIMIZERS", "build_optimizer", "warmup_cosine"]


def _adam(params: Iterable[Any], lr: float, weight_decay: float, momentum: float) -> torch.optim.Optimizer:
    return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)


def _adamw(params: Iterable[Any], lr: float, weight_decay: float, momentum: float) -> torch.optim.Optimizer:
    return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)


def _sgd(params: Iterable[Any], lr: float, weight_decay: float, momentum: float) -> torch.optim.Optimizer:
    return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)


#: Registry of optimisers by name. One line per optimiser.
OPTIMIZERS: dict[str, Callable[..., torch.optim.Optimizer]] = {
    "adam": _adam,
    "adamw": _adamw,
    "sgd": _sgd,
}


def build_optimizer(name: str, params: Iterable[Any], lr: float, weight_decay: float = 0.0,
                    momentum: float = 0.9) -> torch.optim.Optimizer:
    factory = OPTIMIZERS.get(name)
    if factory is None:
        raise unknown_name("optimizer", name, OPTIMIZERS)
    return factory(params, lr=lr, weight_decay=weight_decay, momentum=momentum)


def warmup_cosine(optimizer: torch.optim.Optimizer, total_steps: int, warmup_steps: int = 0,
                  min_lr: float = 0.0) -> torch.optim.lr_scheduler.LambdaLR:
    """Per-step schedule: linear warm-up over ``warmup_steps``, then cosine decay to ``min_lr``."""
    base = [g["lr"] for g in optimizer.param_groups]

    def factor(i: int, base_lr: float) -> float:
        if i < warmup_steps:
            return i / warmup_steps
        span = max(1, total_steps - warmup_steps)
        progress = min(1.0, (i - warmup_steps) / span)
        floor = min_lr / base_lr if base_lr > 0 else 0.0
        return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, [lambda i, b=b: factor(i, b) for b in base])
