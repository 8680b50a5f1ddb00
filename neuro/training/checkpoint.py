"""Checkpoints: weights, neuron parameters, optimiser/scheduler state, config and RNG state in one file.

Format: a single `safetensors <https://github.com/huggingface/safetensors>`_ file. Tensors (model
state, optimiser moments, the torch and numpy RNG states) are stored as tensors; everything else
(config, epoch, metrics, optimiser hyper-parameters, the Python RNG state, every neuron's parameters)
is JSON in the file's metadata, together with a SHA-256 digest of the tensor data. Files are written
to a temporary name, fsynced and renamed (atomic on POSIX), and loading never unpickles anything.

Example:
    >>> import tempfile, torch, pathlib
    >>> net = torch.nn.Linear(2, 2)
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "ckpt.safetensors"
    >>> _ = save_checkpoint(path, net, config={"name": "demo"}, epoch=3)
    >>> load_checkpoint(path).epoch
    3
"""

from __future__ import annotations

import hashlib
import json
import os
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save as st_save
from torch import Tensor, nn

from neuro.errors import CheckpointError

__all__ = ["FORMAT_VERSION", "Checkpoint", "load_checkpoint", "neuron_parameters", "restore_model",
           "restore_rng", "restore_training", "save_checkpoint"]

FORMAT_VERSION = 1


@dataclass(frozen=True)
class Checkpoint:
    """A loaded checkpoint (plain data; apply it with the ``restore_*`` functions)."""

    path: Path
    model_state: dict[str, Tensor]
    config: dict[str, Any] = field(default_factory=dict)
    epoch: int = 0
    metrics: dict[str, Any] = field(default_factory=dict)
    neurons: dict[str, Any] = field(default_factory=dict)
    optimizer_state: dict[str, Any] | None = None
    scheduler_state: dict[str, Any] | None = None
    rng: dict[str, Any] | None = None


def _jsonable(value: Any) -> Any:
    if isinstance(value, Tensor):
        return value.tolist() if value.numel() > 1 else value.item()
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if hasattr(value, "__dataclass_fields__"):  # reset rules, surrogates
        return {"name": getattr(value, "name", type(value).__name__),
                **{k: _jsonable(getattr(value, k)) for k in value.__dataclass_fields__}}
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, bool | int | float | str):
        return value
    raise CheckpointError(f"cannot store {type(value).__name__} value {value!r} in a checkpoint")


def neuron_parameters(model: nn.Module) -> dict[str, Any]:
    """Every neuron's kind and parameters, as JSON-friendly data keyed by module name."""
    out = {}
    for name, module in model.named_modules():
        params = getattr(module, "params", None)
        if callable(params) and hasattr(module, "State"):
            out[name] = {"kind": module.kind, "params": _jsonable(params()._asdict())}
    return out


def _digest(tensors: Mapping[str, Tensor]) -> str:
    h = hashlib.sha256()
    for key in sorted(tensors):
        h.update(key.encode())
        h.update(tensors[key].detach().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def _split_optimizer(state: Mapping[str, Any]) -> tuple[dict[str, Tensor], dict[str, Any]]:
    tensors, rest = {}, {}
    for idx, slots in state["state"].items():
        for key, value in slots.items():
            if isinstance(value, Tensor):
                tensors[f"optimizer.state.{idx}.{key}"] = value
            else:
                rest.setdefault(str(idx), {})[key] = _jsonable(value)
    return tensors, {"param_groups": _jsonable(state["param_groups"]), "state": rest}


def save_checkpoint(path: str | Path, model: nn.Module, *, optimizer: torch.optim.Optimizer | None = None,
                    scheduler: Any = None, config: Mapping[str, Any] | None = None, epoch: int = 0,
                    metrics: Mapping[str, Any] | None = None, rng: bool = True) -> Path:
    """Write a checkpoint atomically and return its path."""
    path = Path(path)
    tensors = {f"model.{k}": v.detach().cpu().contiguous().clone() for k, v in model.state_dict().items()}
    meta: dict[str, Any] = {
        "config": _jsonable(dict(config or {})),
        "epoch": int(epoch),
        "metrics": _jsonable(dict(metrics or {})),
        "neurons": neuron_parameters(model),
    }
    if optimizer is not None:
        opt_tensors, meta["optimizer"] = _split_optimizer(optimizer.state_dict())
        tensors.update({k: v.detach().cpu().contiguous().clone() for k, v in opt_tensors.items()})
    if scheduler is not None:
        meta["scheduler"] = _jsonable(scheduler.state_dict())
    if rng:
        tensors["rng.torch"] = torch.get_rng_state()
        np_state = np.random.get_state()
        tensors["rng.numpy"] = torch.from_numpy(np_state[1].astype(np.int64))
        meta["rng"] = {"numpy": [np_state[0], int(np_state[2]), int(np_state[3]), float(np_state[4])],
                       "python": _jsonable(random.getstate())}
    header = {"format": "neuro-checkpoint", "version": str(FORMAT_VERSION), "digest": _digest(tensors),
              "meta": json.dumps(meta)}
    data = st_save(tensors, metadata=header)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def load_checkpoint(path: str | Path) -> Checkpoint:
    """Read and validate a checkpoint; raise :class:`CheckpointError` naming the file if it is bad."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        with safe_open(str(path), framework="pt") as fh:
            header = fh.metadata() or {}
            tensors = {k: fh.get_tensor(k) for k in fh.keys()}
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{path}: not a readable checkpoint (corrupt or truncated): {exc}") from None
    if header.get("format") != "neuro-checkpoint":
        raise CheckpointError(f"{path}: not a neuro checkpoint (no 'neuro-checkpoint' header)")
    if header.get("version") != str(FORMAT_VERSION):
        raise CheckpointError(f"{path}: checkpoint format version {header.get('version')!r}, "
                              f"this neuro reads version {FORMAT_VERSION}")
    if header.get("digest") != _digest(tensors):
        raise CheckpointError(f"{path}: tensor data does not match its digest (file corrupted)")
    try:
        meta = json.loads(header["meta"])
    except (KeyError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{path}: unreadable metadata: {exc}") from None
    model_state = {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}
    optimizer_state = None
    if "optimizer" in meta:
        state: dict[int, dict[str, Any]] = {int(i): dict(v) for i, v in meta["optimizer"]["state"].items()}
        for key, value in tensors.items():
            if key.startswith("optimizer.state."):
                idx, slot = key[len("optimizer.state."):].split(".", 1)
                state.setdefault(int(idx), {})[slot] = value
        optimizer_state = {"state": state, "param_groups": meta["optimizer"]["param_groups"]}
    rng = None
    if "rng" in meta:
        rng = {"torch": tensors["rng.torch"], "numpy_keys": tensors["rng.numpy"], **meta["rng"]}
    return Checkpoint(path, model_state, meta.get("config", {}), int(meta.get("epoch", 0)),
                      meta.get("metrics", {}), meta.get("neurons", {}), optimizer_state, meta.get("scheduler"), rng)


def restore_model(model: nn.Module, ckpt: Checkpoint) -> None:
    """Load the checkpoint's weights into ``model``; mismatches raise :class:`CheckpointError`."""
    own = model.state_dict()
    missing = sorted(set(own) - set(ckpt.model_state))
    unexpected = sorted(set(ckpt.model_state) - set(own))
    shapes = [f"{k}: checkpoint {tuple(ckpt.model_state[k].shape)} vs model {tuple(v.shape)}"
              for k, v in own.items() if k in ckpt.model_state and ckpt.model_state[k].shape != v.shape]
    if missing or unexpected or shapes:
        parts = []
        if missing:
            parts.append(f"missing {missing}")
        if unexpected:
            parts.append(f"unexpected {unexpected}")
        if shapes:
            parts.append(f"shape mismatch {shapes}")
        raise CheckpointError(f"{ckpt.path}: does not match the model: {'; '.join(parts)}")
    model.load_state_dict(ckpt.model_state)


def restore_training(ckpt: Checkpoint, optimizer: torch.optim.Optimizer | None = None, scheduler: Any = None) -> None:
    """Load optimiser and scheduler state saved in the checkpoint."""
    if optimizer is not None:
        if ckpt.optimizer_state is None:
            raise CheckpointError(f"{ckpt.path}: holds no optimizer state to resume from")
        try:
            optimizer.load_state_dict(ckpt.optimizer_state)
        except (ValueError, KeyError) as exc:
            raise CheckpointError(f"{ckpt.path}: optimizer state does not fit: {exc}") from None
    if scheduler is not None and ckpt.scheduler_state is not None:
        scheduler.load_state_dict(ckpt.scheduler_state)


def restore_rng(ckpt: Checkpoint) -> None:
    """Restore the torch, numpy and Python random states saved in the checkpoint."""
    if ckpt.rng is None:
        raise CheckpointError(f"{ckpt.path}: holds no RNG state")
    torch.set_rng_state(ckpt.rng["torch"])
    name, pos, has_gauss, cached = ckpt.rng["numpy"]
    np.random.set_state((name, ckpt.rng["numpy_keys"].numpy().astype(np.uint32), pos, has_gauss, cached))
    version, internal, gauss = ckpt.rng["python"]
    random.setstate((version, tuple(internal), gauss))
