"""Training: losses, optimisers and schedules, the fit/evaluate loop and checkpoints."""

from neuro.training.checkpoint import (
    Checkpoint,
    load_checkpoint,
    restore_model,
    restore_rng,
    restore_training,
    save_checkpoint,
)
from neuro.training.loop import CHECKPOINT_NAME, TrainConfig, collate_time_major, evaluate, fit
from neuro.training.losses import LOSSES, build_loss, ce_count, ce_max, ce_mean, mse_count, predict, tet
from neuro.training.optim import OPTIMIZERS, build_optimizer, warmup_cosine

__all__ = [
    "CHECKPOINT_NAME", "LOSSES", "OPTIMIZERS", "Checkpoint", "TrainConfig", "build_loss", "build_optimizer",
    "ce_count", "ce_max", "ce_mean", "collate_time_major", "evaluate", "fit", "load_checkpoint", "mse_count",
    "predict", "restore_model", "restore_rng", "restore_training", "save_checkpoint", "tet", "warmup_cosine",
]
