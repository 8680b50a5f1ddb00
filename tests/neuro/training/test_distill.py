"""Distillation: golden hard/soft losses, and a tiny Meta-SpikeFormer trained against a frozen teacher."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import TensorDataset

from neuro.errors import ConfigError, ShapeError
from neuro.models.meta_spikeformer import MetaSpikeFormer, MetaSpikeFormerConfig
from neuro.training import TrainConfig
from neuro.training.distill import DistillConfig, distillation_loss, fit_distilled
from tests.neuro.sdt_checks import single_thread


@pytest.fixture(autouse=True)
def _single_thread():
    with single_thread():
        yield


def _base(out, y):
    return F.cross_entropy(out.mean(0), y)


def test_hard_distillation_golden():
    out = torch.zeros(2, 1, 3)
    kd = torch.tensor([[[0.0, 2.0, 0.0]], [[0.0, 0.0, 0.0]]])  # mean over T: [0, 1, 0]
    teacher = torch.tensor([[[0.0, 0.0, 9.0]]])  # (T=1, B, C): hard label 2
    loss = distillation_loss(out, kd, teacher, torch.tensor([1]), _base, alpha=0.25)
    ce_kd = -0.0 + math.log(1 + math.e + 1)  # CE([0, 1, 0], class 2)
    assert loss.item() == pytest.approx(0.75 * math.log(3) + 0.25 * ce_kd, abs=1e-6)


def test_soft_distillation_is_zero_against_itself_and_scales_with_tau_squared():
    kd = torch.randn(3, 4, 5)
    teacher = kd.mean(0)
    zero_base = lambda o, y: o.sum() * 0  # noqa: E731
    assert distillation_loss(kd, kd, teacher, torch.zeros(4, dtype=torch.long), zero_base, 1.0, 2.0, "soft").item() \
        == pytest.approx(0.0, abs=1e-6)
    other = torch.randn(4, 5)
    kl = F.kl_div(F.log_softmax(kd.mean(0) / 3, -1), F.softmax(other / 3, -1), reduction="batchmean")
    got = distillation_loss(kd, kd, other, torch.zeros(4, dtype=torch.long), zero_base, 1.0, 3.0, "soft")
    assert got.item() == pytest.approx(9 * kl.item(), rel=1e-5)


def test_errors():
    with pytest.raises(ConfigError, match="alpha"):
        DistillConfig(alpha=1.5)
    with pytest.raises(ShapeError, match="teacher"):
        distillation_loss(torch.zeros(1, 2, 3), torch.zeros(1, 2, 3), torch.zeros(2, 4), torch.zeros(2).long(), _base)
    with pytest.raises(ConfigError, match="forward_heads"):
        fit_distilled(nn.Linear(2, 2), nn.Linear(2, 2), TensorDataset(torch.zeros(1, 2)), None, TrainConfig(),
                      DistillConfig())


def test_fit_distilled_trains_both_heads_of_a_tiny_meta_spikeformer(tmp_path):
    cfg = MetaSpikeFormerConfig(embed_dims=(8, 16, 16, 16), depths=(1, 1, 1, 1, 1), num_heads=4, distillation=True)
    student = MetaSpikeFormer(cfg, in_channels=1, num_classes=3)
    teacher = nn.Sequential(nn.Flatten(2), nn.Linear(64, 3))  # any frozen model of (T, B, ...) -> (T, B, C)
    x = torch.rand(12, 2, 1, 8, 8)  # 12 samples of (T=2, 1, 8, 8)
    data = TensorDataset(x, torch.arange(12) % 3)
    before = {n: p.detach().clone() for n, p in student.named_parameters()}
    teacher_before = [p.detach().clone() for p in teacher.parameters()]
    history = fit_distilled(student, teacher, data, data, TrainConfig(epochs=2, batch_size=6, lr=1e-2, progress=False),
                            DistillConfig(), run_dir=tmp_path, log=lambda s: None)
    assert [r["epoch"] for r in history] == [1, 2] and "test_accuracy" in history[-1]
    assert not torch.equal(before["head_kd.weight"], student.head_kd.weight)
    assert not torch.equal(before["head.weight"], student.head.weight)
    assert all(torch.equal(a, b) for a, b in zip(teacher_before, teacher.parameters(), strict=True))
    assert (tmp_path / "checkpoint.safetensors").is_file()
