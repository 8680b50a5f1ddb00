"""End-to-end runs of the ``lsm`` and ``zero_shot`` experiment tasks on tiny N-MNIST and N-TIDIGITS fixtures
written in the real file formats and read through ``neuro.data``."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

from neuro.data.binary import encode_atis
from neuro.data.events import make_events
from neuro.errors import ConfigError
from neuro.experiment import load_experiment, run_experiment


def _nmnist_fixture(root, per_class: dict[str, int], seed: int) -> None:
    """N-MNIST ``.bin`` files (original layout) whose digit c lights a 4x4 block of the 16x16 crop window."""
    rng = np.random.default_rng(seed)
    for split, n in per_class.items():
        for c in range(10):
            folder = root / split / str(c)
            folder.mkdir(parents=True)
            for i in range(n):
                k = 120
                t = np.sort(rng.integers(0, 100_000, k))
                x = np.where(rng.random(k) < 0.7, 9 + 4 * (c % 4) + rng.integers(0, 4, k), rng.integers(9, 25, k))
                y = np.where(rng.random(k) < 0.7, 9 + 4 * (c // 4) + rng.integers(0, 4, k), rng.integers(9, 25, k))
                (folder / f"{i:05d}.bin").write_bytes(encode_atis(make_events(x=x, y=y, t=t, p=0)))


def _ntidigits_fixture(path, per_class: dict[str, int], seed: int) -> None:
    """An N-TIDIGITS HDF5 (real layout) whose digit d fires channels [6d, 6d + 6) (and a few random ones)."""
    rng = np.random.default_rng(seed)
    with h5py.File(path, "w") as f:
        for split, n in per_class.items():
            labels = []
            addresses, timestamps = f.create_group(f"{split}_addresses"), f.create_group(f"{split}_timestamps")
            for d in "z123456789o":
                c = {"z": 0, "o": 10}.get(d) if d in "zo" else int(d)
                for i in range(n):
                    k = 80
                    ch = np.where(rng.random(k) < 0.7, 6 * (c % 10) + rng.integers(0, 6, k), rng.integers(0, 64, k))
                    key = f"spk{i}-x-{d}"
                    addresses.create_dataset(key, data=ch.astype(np.int16))
                    timestamps.create_dataset(key, data=np.sort(rng.random(k)) * 0.5)
                    labels.append(key.encode())
            f.create_dataset(f"{split}_labels", data=np.array(labels))


@pytest.fixture
def fixture_tables(tmp_path, monkeypatch):
    """``[data]`` tables of a tiny N-MNIST and a tiny N-TIDIGITS written in their real formats."""
    monkeypatch.setenv("NEURO_DATA_ROOT", str(tmp_path / "data_root"))
    _nmnist_fixture(tmp_path / "nmnist", {"Train": 8, "Test": 4}, 0)
    _ntidigits_fixture(tmp_path / "n-tidigits.hdf5", {"train": 8, "test": 4}, 1)
    vision = {"name": "nmnist", "root": str(tmp_path / "nmnist"), "n_time_bins": 10, "crop": [16, 16],
              "polarity": 0, "binarize": True}
    audio = {"name": "ntidigits", "root": str(tmp_path), "n_time_bins": 20, "binarize": True}
    return vision, audio


def test_lsm_task_end_to_end(tmp_path, fixture_tables) -> None:
    exp = load_experiment({
        "name": "lsm_fixture", "task": "lsm", "seed": 3, "seeds": 2, "sizes": [30, 50],
        "data": fixture_tables[0],
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


def test_lsm_task_rram_weights(tmp_path, fixture_tables) -> None:
    exp = load_experiment({
        "name": "lsm_rram", "task": "lsm", "seed": 0, "seeds": 1, "data": fixture_tables[1],
        "reservoir": {"n_neurons": 30, "v_threshold": 1.0, "weight_scale": 0.5},
        "weights": {"source": "rram", "card": "lsm_40nm"}, "calibrate": {"alphas": [10.0]},
        "energy": {"samples": 0},
    })
    metrics = run_experiment(exp, tmp_path)
    assert metrics["weights"] == "rram" and metrics["test_accuracy_mean"] > 0.5


def test_zero_shot_task_end_to_end(tmp_path, fixture_tables) -> None:
    exp = load_experiment({
        "name": "zs_fixture", "task": "zero_shot", "seed": 0, "seeds": 1,
        "vision": {"data": fixture_tables[0], "reservoir": {"n_neurons": 40, "v_threshold": 1.0}},
        "audio": {"data": fixture_tables[1],
                  "reservoir": {"n_neurons": 40, "v_threshold": 1.0, "decay": 0.95}},
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
    assert run["unseen"]["gallery"] == 2 * (8 + 4)  # train+test images of classes 8 and 9
    assert (tmp_path / "zs_fixture" / "metrics.json").exists()


def test_config_errors() -> None:
    nm = {"name": "nmnist", "n_time_bins": 5}
    with pytest.raises(ConfigError, match="disjoint"):
        load_experiment({"name": "x", "task": "zero_shot", "vision": {"data": nm}, "audio": {"data": nm},
                         "seen_classes": [1, 2], "unseen_classes": [2]})
    with pytest.raises(ConfigError, match="data.crops"):
        load_experiment({"name": "x", "task": "lsm", "data": {**nm, "crops": [16, 16]}})
    with pytest.raises(ConfigError, match="reservoir.decay"):
        load_experiment({"name": "x", "task": "lsm", "data": nm, "reservoir": {"decay": "fast"}})
    with pytest.raises(ConfigError, match="features.kind"):
        load_experiment({"name": "x", "task": "lsm", "data": nm, "features": {"kind": "rates"}})
