"""The spike-driven transformer experiment files validate and build (no training, no data)."""

from __future__ import annotations

import pytest
import torch

from neuro.experiment import load_experiment
from neuro.models import build_model
from neuro.training import build_loss, build_optimizer
from tests.conftest import REPO

FILES = sorted(p for pattern in ("sdt_*.toml", "meta_*.toml") for p in (REPO / "experiments").glob(pattern))


def test_files_exist():
    assert {p.name for p in FILES} >= {"sdt_tiny_nmnist_t1.toml", "sdt_tiny_nmnist_t4.toml",
                                        "meta_tiny_nmnist_t1.toml", "meta_tiny_nmnist_t4.toml"}


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_experiment_validates_and_builds(path):
    exp = load_experiment(path)
    assert exp.name == path.stem
    model_table = {k: v for k, v in exp.settings.model.items() if k != "pretrained"}
    with torch.device("meta"):
        model = build_model(model_table, (2, 34, 34), 10)
    assert sum(p.numel() for p in model.parameters()) > 0
    train = exp.settings.train
    build_loss(train.loss, **train.loss_options)
    build_optimizer(train.optimizer, torch.nn.Linear(2, 2).parameters(), train.lr, train.weight_decay)
    if path.stem.endswith("_t4"):  # stage 2 starts from stage 1's run
        assert exp.settings.model["pretrained"] == f"runs/{path.stem[:-3]}_t1"
        assert exp.settings.data["n_time_bins"] == 4 and train.loss == "tet"
