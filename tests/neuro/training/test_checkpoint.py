"""Checkpoints: save -> load round trips, corruption detection, and resume == uninterrupted run."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from neuro import LIF, Sequential, simulate
from neuro.errors import CheckpointError
from neuro.training import (
    TrainConfig,
    fit,
    load_checkpoint,
    restore_model,
    restore_rng,
    save_checkpoint,
)


def _net() -> Sequential:
    return Sequential(nn.Linear(8, 16), LIF(decay_input=False, learn_threshold=True), nn.Dropout(0.2),
                      nn.Linear(16, 3), LIF(tau_mem=5e-3, decay_input=False))


def _data(n: int = 48) -> TensorDataset:
    g = torch.Generator().manual_seed(3)
    y = torch.randint(0, 3, (n,), generator=g)
    x = (torch.rand(n, 10, 8, generator=g) < 0.1 + 0.6 * torch.nn.functional.one_hot(y, 8)[:, None, :]).float()
    return TensorDataset(x, y)  # samples (T=10, 8): the class's channel fires more


def test_round_trip_gives_identical_outputs(tmp_path) -> None:
    net = _net()
    with torch.no_grad():
        net[1].v_threshold.fill_(0.7)
    path = save_checkpoint(tmp_path / "c.safetensors", net, config={"name": "x", "nested": {"a": [1, 2]}}, epoch=4,
                           metrics={"acc": 0.5})
    assert not list(tmp_path.glob(".*tmp"))  # atomic write leaves no temporary behind
    ckpt = load_checkpoint(path)
    assert ckpt.epoch == 4 and ckpt.config == {"name": "x", "nested": {"a": [1, 2]}} and ckpt.metrics == {"acc": 0.5}
    assert ckpt.neurons["1"]["kind"] == "lif"
    assert ckpt.neurons["1"]["params"]["v_threshold"] == pytest.approx(0.7)
    assert ckpt.neurons["4"]["params"]["reset"]["name"] == "hard"
    other = _net()
    restore_model(other, ckpt)
    net.eval()
    other.eval()
    x = torch.rand(5, 2, 8)
    torch.testing.assert_close(simulate(other, x).output, simulate(net, x).output, rtol=0, atol=0)


def test_rng_state_round_trip(tmp_path) -> None:
    path = save_checkpoint(tmp_path / "c.safetensors", nn.Linear(1, 1))
    a = (torch.rand(3), np.random.rand(3), random.random())
    restore_rng(load_checkpoint(path))
    b = (torch.rand(3), np.random.rand(3), random.random())
    torch.testing.assert_close(a[0], b[0])
    assert np.array_equal(a[1], b[1]) and a[2] == b[2]


def test_corrupt_and_mismatched_checkpoints_are_rejected(tmp_path) -> None:
    path = save_checkpoint(tmp_path / "c.safetensors", _net())
    data = path.read_bytes()
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated.safetensors: not a readable checkpoint"):
        load_checkpoint(truncated)
    flipped = tmp_path / "flipped.safetensors"
    raw = bytearray(data)
    raw[-5] ^= 0xFF  # inside the tensor data
    flipped.write_bytes(bytes(raw))
    with pytest.raises(CheckpointError, match="does not match its digest"):
        load_checkpoint(flipped)
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"\x00" * 64)
    with pytest.raises(CheckpointError, match="garbage.safetensors"):
        load_checkpoint(garbage)
    with pytest.raises(CheckpointError, match="checkpoint not found"):
        load_checkpoint(tmp_path / "missing.safetensors")
    with pytest.raises(CheckpointError, match=r"does not match the model: missing .*unexpected"):
        restore_model(nn.Linear(2, 2), load_checkpoint(path))


def _cfg(epochs: int) -> TrainConfig:
    return TrainConfig(epochs=epochs, batch_size=8, lr=5e-3, optimizer="adam", schedule="cosine", warmup_epochs=1,
                       progress=False)


def test_resume_equals_uninterrupted_run(tmp_path) -> None:
    torch.manual_seed(0)
    straight = _net()
    fit(straight, _data(), _data(16), _cfg(3), seed=7, run_dir=tmp_path / "a", log=lambda s: None)

    torch.manual_seed(0)
    interrupted = _net()
    fit(interrupted, _data(), _data(16), _cfg(1), seed=7, run_dir=tmp_path / "b", log=lambda s: None)
    torch.manual_seed(123)  # disturb the global RNG: resume must restore it
    random.seed(9)
    resumed = _net()
    history = fit(resumed, _data(), _data(16), _cfg(3), seed=7, run_dir=tmp_path / "b", resume=True,
                  log=lambda s: None)
    assert [row["epoch"] for row in history] == [1, 2, 3]
    for (name, a), (_, b) in zip(straight.state_dict().items(), resumed.state_dict().items(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=f"parameter {name} differs after resume")
    ckpt = load_checkpoint(tmp_path / "b" / "checkpoint.safetensors")
    assert ckpt.epoch == 3 and ckpt.optimizer_state is not None and ckpt.scheduler_state is not None


def test_training_learns_a_separable_task() -> None:
    torch.manual_seed(0)
    net = _net()
    history = fit(net, _data(96), _data(48), _cfg(6), seed=1, log=lambda s: None)
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    assert history[-1]["test_accuracy"] > 0.6
