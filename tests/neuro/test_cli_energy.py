"""``neuro energy``: checkpoint and experiment-TOML targets, table + JSON + PNG, clear errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from neuro.cli import main
from neuro.models import build_model
from neuro.training import save_checkpoint
from tests.conftest import REPO

EXPERIMENT = {"name": "tiny", "data": {"name": "nmnist", "n_time_bins": 6},
              "model": {"name": "conv_snn", "channels": [4], "kernel_size": 3, "batch_norm": False}}
TOML = ('name = "tiny"\n[data]\nname = "nmnist"\nn_time_bins = 6\n'
        '[model]\nname = "conv_snn"\nchannels = [4]\nkernel_size = 3\nbatch_norm = false\n')


def _checkpoint(tmp_path):
    torch.manual_seed(0)
    model = build_model(EXPERIMENT["model"], (2, 8, 8), 10)
    with torch.no_grad():
        model[0].module.weight.mul_(5.0)
    return save_checkpoint(tmp_path / "run" / "checkpoint.safetensors", model,
                           config={"experiment": EXPERIMENT, "input_shape": [2, 8, 8], "num_classes": 10})


def test_energy_of_a_checkpoint(tmp_path, capsys) -> None:
    ckpt = _checkpoint(tmp_path)
    out = tmp_path / "energy"
    code = main(["energy", str(ckpt.parent), "--chip", "cmos45", "--chip", "loihi", "--chip", "speck",
                 "--input", "bernoulli", "--time-steps", "6", "--input-shape", "2,8,8", "--samples", "3",
                 "--input-rate", "0.3", "--out", str(out)])
    assert code == 0
    text = capsys.readouterr().out
    assert "SYNTHETIC Bernoulli" in text and "trained weights" in text and "convention 'sdt'" in text
    data = json.loads((out / "energy.json").read_text())
    got = {(r["chip"], r["convention"]) for r in data["reports"]}
    assert ("cmos45", "ann") in got and ("loihi", "memory") in got and ("speck", "power") in got
    assert all(r["total_joules"] > 0 for r in data["reports"])
    speck = next(r for r in data["reports"] if r["chip"] == "speck")
    assert speck["total_joules"] == pytest.approx(0.70e-3 * 6 * 1e-3)  # 0.70 mW x T * dt
    assert (out / "energy.png").stat().st_size > 0
    assert data["counts"]["time_steps"] == 6 and data["counts"]["batch_size"] == 3


def test_energy_of_an_experiment_toml_without_data(tmp_path, capsys) -> None:
    exp = tmp_path / "tiny.toml"
    exp.write_text(TOML)
    code = main(["energy", str(exp), "--input", "bernoulli", "--time-steps", "4", "--input-shape", "2,8,8",
                 "--num-classes", "10", "--convention", "sdt", "--out", str(tmp_path / "e")])
    assert code == 0 and "untrained weights" in capsys.readouterr().out
    assert [r["convention"] for r in json.loads((tmp_path / "e" / "energy.json").read_text())["reports"]] == ["sdt"]


def test_unknown_chip_is_a_clear_error(tmp_path, capsys) -> None:
    assert main(["energy", str(tmp_path), "--chip", "loihi9"]) == 2
    err = capsys.readouterr().err
    assert "unknown chip 'loihi9'" in err and "truenorth" in err


def test_engine_never_imports_hardware_models() -> None:
    code = ("import sys, neuro, neuro.analysis, neuro.core.weight_source, neuro.cli; "
            "from neuro.cli import build_parser; build_parser(); "
            "assert not [m for m in sys.modules if m.startswith('hardware_models')], 'engine imported hardware_models'")
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True)


def test_reparameterisable_models_are_counted_merged(tmp_path, capsys) -> None:
    """PAPERS §5.2: RepConv branches and BN count as the single merged conv."""
    exp = tmp_path / "meta.toml"
    exp.write_text('name = "meta"\n[data]\nname = "nmnist"\nn_time_bins = 2\n'
                   '[model]\nname = "meta_spikeformer"\nembed_dims = [8, 16, 32, 40]\n')
    common = ["--input", "bernoulli", "--time-steps", "2", "--input-shape", "2,16,16", "--num-classes", "10",
              "--samples", "1", "--convention", "sdt"]
    assert main(["energy", str(exp), *common, "--out", str(tmp_path / "a")]) == 0
    assert "counting the re-parameterised model" in capsys.readouterr().out
    assert main(["energy", str(exp), *common, "--as-written", "--out", str(tmp_path / "b")]) == 0
    merged = json.loads((tmp_path / "a" / "energy.json").read_text())["counts"]["layers"]
    written = json.loads((tmp_path / "b" / "energy.json").read_text())["counts"]["layers"]
    assert len(merged) < len(written)
    assert not any("BatchNorm" in layer["module"] for layer in merged)
