"""Start a model from the weights of an earlier run (fine-tuning, e.g. T = 1 training then T = 4).

``[model] pretrained = "runs/<name>"`` (a run directory or a ``checkpoint.safetensors`` file written
by ``neuro run``) loads those weights right after the model is built. The architecture must match;
only keys named in ``allow_missing`` (the distillation head, which the first stage has no use for)
may be absent from the checkpoint and keep their fresh initialisation.

Example:
    >>> import tempfile, pathlib, torch
    >>> from neuro.training import save_checkpoint
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "checkpoint.safetensors"
    >>> _ = save_checkpoint(path, torch.nn.Linear(2, 2))
    >>> net = torch.nn.Linear(2, 2)
    >>> load_pretrained(net, path.parent) is net
    True
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from torch import nn

from neuro.errors import CheckpointError
from neuro.training.checkpoint import Checkpoint, load_checkpoint, restore_model
from neuro.training.loop import CHECKPOINT_NAME

__all__ = ["load_pretrained"]


def load_pretrained(model: nn.Module, path: str | Path, allow_missing: Sequence[str] = ("head_kd.",)) -> nn.Module:
    """Load the weights stored at ``path`` into ``model`` (in place) and return it."""
    path = Path(path)
    if path.is_dir():
        path = path / CHECKPOINT_NAME
    if not path.is_file():
        raise CheckpointError(f"model.pretrained: no checkpoint at {path}")
    ckpt = load_checkpoint(path)
    own = model.state_dict()
    fill = {k: v for k, v in own.items() if k not in ckpt.model_state and k.startswith(tuple(allow_missing))}
    restore_model(model, Checkpoint(ckpt.path, {**ckpt.model_state, **fill}))
    return model
