"""End-to-end runs of the ``lsm`` and ``zero_shot`` experiment tasks on small synthetic event data."""

from __future__ import annotations

import json

import pytest
import torch

from neuro.errors import ConfigError
from neuro.experiment import load_experiment, run_experiment
from neuro.tasks.common import SplitData


def _fixture_split(n_per_class: int, classes: int, steps: int, channels: int, seed: int) -> SplitData:
    """Class c drives input channels [c*4, c*4+4) at 50% and the rest at 3%: learnable, noisy spike trains."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(classes).repeat(n_per_class)
    p = torch.full((y.numel(), channels), 0.03)
    for i, c in enumerate(y.tolist()):
        p[i, 4 * c:4 * c + 4] = 0.5
    x = (torch.rand(steps, y.numel(), channels, generator=g) < p).float()
    return SplitData(x, y, classes)


@pytest.fixture
def fake_data(monkeypatch):
    def load(table, split):
        seed = {"train": 0, "test": 1}[split] + (10 if table["name"] == "audio" else 0)
        channels = 40 if table["name"] == "audio" else 48
        return _fixture_split(10 if split == "train" else 5, 10, 15, channels, seed)

    import neuro.tasks.lsm
    import neuro.tasks.zero_shot

    monkeypatch.setattr(neuro.tasks.lsm, "load_split", load)
    monkeypatch.setattr(neuro.tasks.zero_shot, "load_split", load)


def test_lsm_task_end_to_end(tmp_path, fake_data) -> None:
    exp = load_experiment({
        "name": "lsm_fixture", "task": "lsm", "seed": 3, "seeds": 2, "sizes": [30, 50],
        "data": {"name": "vision"},
        "reservoir": {"n_neurons": 30, "decay": 0.9, "v_threshold": 1.0},
        "calibrate": {"scales": [0.05, 0.5], "alphas": [1.0, 10.0], "folds": 3},
        "energy": {"samples": 4, "chips": ["rram_imc", "cmos45"]},
    })
    metrics = run_experiment(exp, tmp_path)
    stored = json.loads((tmp_path / "lsm_fixture" / "metrics.json").read_text())
    assert stored["test_accuracy_mean"] == metrics["test_accuracy_mean"]
    assert [s["n_neurons"] for s in stored["sizes"]] == [30, 50]
    first = stored["sizes"][0]
    assert first["weight_scale"] == 0.5  # 0.05 leaves this reservoir silent: calibration must reject it
    assert first["calibration"][0]["firing_rate"] < first["calibration"][1]["firing_rate"]
    assert first["test_accuracy_mean"] > 0.5  # ten classes: chance is 0.1
    assert len(first["runs"]) == 2 and first["runs"][0]["seed"] == 3
    energy = first["energy"]["reservoir"]["chips"]
    assert energy["rram_imc"]["total_j"] > 0 and energy["cmos45"]["total_j"] > energy["rram_imc"]["total_j"]
    assert (tmp_path / "lsm_fixture" / "calibration.png").stat().st_size > 0
    # the run is deterministic under its seed
    again = run_experiment(exp, tmp_path / "again")
    assert again["sizes"][0]["runs"][0]["test_accuracy"] == first["runs"][0]["test_accuracy"]


def test_lsm_task_rram_weights(tmp_path, fake_data) -> None:
    exp = load_experiment({
        "name": "lsm_rram", "task": "lsm", "seed": 0, "seeds": 1, "data": {"name": "vision"},
        "reservoir": {"n_neurons": 30, "v_threshold": 1.0, "weight_scale": 0.5},
        "weights": {"source": "rram", "card": "lsm_40nm"}, "calibrate": {"alphas": [10.0]},
        "energy": {"samples": 0},
    })
    metrics = run_experiment(exp, tmp_path)
    assert metrics["weights"] == "rram" and metrics["test_accuracy_mean"] > 0.5


def test_zero_shot_task_end_to_end(tmp_path, fake_data) -> None:
    exp = load_experiment({
        "name": "zs_fixture", "task": "zero_shot", "seed": 0, "seeds": 1,
        "vision": {"data": {"name": "vision"}, "reservoir": {"n_neurons": 40, "v_threshold": 1.0}},
        "audio": {"data": {"name": "audio"}, "reservoir": {"n_neurons": 40, "v_threshold": 1.0, "decay": 0.95}},
        "calibrate": {"scales": [0.3, 0.6], "alphas": [10.0], "folds": 3},
        "head": {"dim": 16, "epochs": 10, "batch_size": 10, "lr": 3e-3, "temperature": 0.2},
    })
    metrics = run_experiment(exp, tmp_path)
    s = metrics["summary"]
    assert metrics["chance"]["unseen_prototype"] == 0.5 and metrics["chance"]["seen_prototype"] == pytest.approx(1 / 7)
    assert s["seen_instance"]["mean"] > 0.5  # chance 1/7
    assert s["unseen_prototype"]["mean"] > 0.5 or s["unseen_instance"]["mean"] > 0.5
    run = metrics["runs"][0]
    assert run["final_loss"] < run["first_loss"]
    assert run["unseen"]["gallery"] == 2 * (10 + 5)  # train+test images of classes 8 and 9
    assert (tmp_path / "zs_fixture" / "metrics.json").exists()


def test_zero_shot_config_errors() -> None:
    with pytest.raises(ConfigError, match="disjoint"):
        load_experiment({"name": "x", "task": "zero_shot", "vision": {"data": {}}, "audio": {"data": {}},
                         "seen_classes": [1, 2], "unseen_classes": [2]})
