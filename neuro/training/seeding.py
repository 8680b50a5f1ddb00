"""Seeding every random number generator a run touches."""

from __future__ import annotations

import random

import numpy as np
import torch

__all__ = ["seed_everything"]


def seed_everything(seed: int) -> None:
    """Seed Python's, numpy's global and torch's generators (the ones checkpoints save and restore)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
