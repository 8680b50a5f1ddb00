"""The command line: doctor, and `neuro run` end to end on the shipped N-MNIST subset (tiny settings)."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from neuro.cli import main
from neuro.errors import ConfigError, UnknownNameError
from neuro.experiment import build_from_checkpoint, load_experiment
from tests.conftest import REPO

TINY = ["train.epochs=1", "data.n_time_bins=3", "model.channels=[4, 8]", "train.batch_size=50",
        "train.progress=false"]


def test_doctor_reports_backends(capsys) -> None:
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert "backend reference  available" in out and "torch" in out
    assert "event thresholds   built-in (NEURO_TUNING is set empty)" in out  # the tests' setting (conftest)


def test_doctor_says_where_the_thresholds_come_from(tmp_path, monkeypatch) -> None:
    from neuro.backends import tuning
    from neuro.cli.doctor import _tuning

    path = tmp_path / "tuning.json"
    monkeypatch.setenv("NEURO_TUNING", str(path))
    assert "no tuning file at" in _tuning() and "--save-tuning" in _tuning()
    tuning.save({"event_conv2d": [{"in_channels": 2, "out_channels": 12, "kernel_size": 5, "max_density": 0.02}]})
    assert _tuning().startswith("this machine's, measured 20") and str(path) in _tuning()
    path.write_text(path.read_text().replace('"cpu": "', '"cpu": "another '))
    assert "was measured on another machine" in _tuning()
    path.write_text("{")
    assert "unusable" in _tuning() and "invalid JSON" in _tuning()


@pytest.fixture
def quickstart_copy(tmp_path, monkeypatch):
    """Run from a scratch directory holding the shipped archive, so nothing is written into the repo."""
    shutil.copytree(REPO / "datasets" / "nmnist_small", tmp_path / "datasets" / "nmnist_small")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NEURO_DATA_ROOT", raising=False)
    return tmp_path


def test_run_writes_the_run_folder_and_resumes(quickstart_copy, capsys) -> None:
    exp = str(REPO / "experiments" / "quickstart.toml")
    args = ["run", exp, "--out", "runs", *[a for item in TINY for a in ("--set", item)]]
    assert main(args) == 0
    run = quickstart_copy / "runs" / "quickstart"
    assert {p.name for p in run.iterdir()} >= {"config.toml", "metrics.json", "checkpoint.safetensors", "raster.png",
                                                "curves.png"}
    metrics = json.loads((run / "metrics.json").read_text())
    assert len(metrics["history"]) == 1 and 0.0 <= metrics["test_accuracy"] <= 1.0
    assert "n_time_bins = 3" in (run / "config.toml").read_text()
    model, loaded = build_from_checkpoint(run)
    assert loaded.name == "quickstart"
    out, _ = model(torch.zeros(3, 2, 2, 34, 34))
    assert out.shape == (3, 2, 10)
    # resume to two epochs: only the second one runs
    assert main([*args, "--set", "train.epochs=2", "--resume"]) == 0
    assert "resumed from" in capsys.readouterr().out
    assert [r["epoch"] for r in json.loads((run / "metrics.json").read_text())["history"]] == [1, 2]


def test_bad_experiments_are_named_errors(tmp_path, capsys) -> None:
    exp = REPO / "experiments" / "quickstart.toml"
    with pytest.raises(ConfigError, match="unknown config key.*train.epoch"):
        load_experiment(exp, ["train.epoch=3"])
    with pytest.raises(ConfigError, match="config key train.lr: expected a number"):
        load_experiment(exp, ["train.lr=fast"])
    with pytest.raises(UnknownNameError, match="unknown task 'dance'"):
        load_experiment(exp, ["task=dance"])
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\n[data]\nname = "nmnist"\nn_time_bins = 4\n[model]\nname = "resnet9000"\n')
    assert main(["run", str(bad), "--out", str(tmp_path)]) == 2
    assert "unknown model 'resnet9000'" in capsys.readouterr().err
    bad.write_text('name = "x"\n[data]\nname = "nmnist"\n[model]\nname = "conv_snn"\n')
    assert main(["run", str(bad), "--out", str(tmp_path)]) == 2
    assert "set exactly one of n_time_bins" in capsys.readouterr().err


def test_doctor_says_which_threads_run_the_kernels(monkeypatch) -> None:
    from neuro.backends import _omp_team
    from neuro.cli.doctor import _executor

    monkeypatch.setenv("NEURO_PARALLEL", "pool")
    assert _executor() == "neuro's own thread pool (NEURO_PARALLEL=pool)"
    monkeypatch.setenv("NEURO_PARALLEL", "openmp")
    if _omp_team.library() is None:
        assert _executor() == "neuro's own thread pool (torch does not run on libgomp here)"
    else:
        assert _executor().startswith("torch's OpenMP team (") and "libgomp" in _executor()
    monkeypatch.setenv("NEURO_PARALLEL", "gpu")
    assert "NEURO_PARALLEL='gpu'" in _executor()
