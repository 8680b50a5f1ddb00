"""``neuro export --format nir`` (verified by default, loud on divergence) and ``neuro import``."""

from __future__ import annotations

import nir
import numpy as np
import pytest
import torch

from neuro import LIF
from neuro.cli import main
from neuro.interop.nir import nodes as nir_nodes
from neuro.interop.nir import params as nir_params
from neuro.interop.nir import read
from neuro.models import build_model
from neuro.training import save_checkpoint

EXPERIMENT = {"name": "tiny", "data": {"name": "nmnist"}, "model": {"name": "conv_snn", "channels": [4, 6],
                                                                    "kernel_size": 3}}


def _checkpoint(tmp_path):
    torch.manual_seed(0)
    model = build_model(EXPERIMENT["model"], (2, 12, 12), 10)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.Conv2d | torch.nn.Linear):
                m.weight.copy_((1.0 + 2.0 * torch.randn(m.weight.shape)) / m.weight[0].numel() ** 0.5)
    return save_checkpoint(tmp_path / "runs" / "tiny" / "checkpoint.safetensors", model,
                           config={"experiment": EXPERIMENT, "input_shape": [2, 12, 12], "num_classes": 10})


def test_export_verifies_then_writes_and_import_summarises(tmp_path, capsys) -> None:
    ckpt = _checkpoint(tmp_path)
    out = tmp_path / "model.nir"
    assert main(["export", str(ckpt.parent), "--format", "nir", "-o", str(out), "--steps", "20"]) == 0
    text = capsys.readouterr().out
    assert "identical" in text and "lif_2" in text and f"wrote {out}" in text
    graph = read(out)
    assert graph.metadata["dt"] == 1e-3 and "BatchNorm" not in str([type(n) for n in graph.nodes.values()])
    assert main(["import", str(out)]) == 0
    text = capsys.readouterr().out
    assert "conv2d_0" in text and "neuro model: Sequential (sequence mode)" in text and "spikes: lif_2" in text


def test_export_from_an_experiment_toml(tmp_path, capsys) -> None:
    _checkpoint(tmp_path)
    toml = tmp_path / "tiny.toml"
    toml.write_text('name = "tiny"\n[data]\nname = "nmnist"\n[model]\nname = "conv_snn"\nchannels = [4, 6]\n'
                    'kernel_size = 3\n')
    out = tmp_path / "m.nir"
    assert main(["export", str(toml), "-o", str(out), "--runs", str(tmp_path / "runs"), "--steps", "10"]) == 0
    assert out.is_file()
    assert main(["export", str(toml), "-o", str(out), "--runs", str(tmp_path / "elsewhere")]) == 2
    assert "train it first: neuro run" in capsys.readouterr().err


def test_export_fails_loudly_on_divergence(tmp_path, capsys, monkeypatch) -> None:
    def wrong_lif(module, shape):  # a conversion bug: the wrong time constant
        node = nir_params.export_lif(module, shape)
        node.tau = node.tau * 3
        return node

    monkeypatch.setitem(nir_nodes.EXPORTERS, LIF, wrong_lif)
    ckpt = _checkpoint(tmp_path)
    out = tmp_path / "bad.nir"
    assert main(["export", str(ckpt), "-o", str(out), "--steps", "20"]) == 1
    err = capsys.readouterr().err
    assert "DIVERGES" in err and "not written" in err
    assert not out.exists()


def test_export_without_the_fold_lists_batchnorm(tmp_path, capsys) -> None:
    ckpt = _checkpoint(tmp_path)
    assert main(["export", str(ckpt), "-o", str(tmp_path / "x.nir"), "--no-fold-batchnorm"]) == 2
    err = capsys.readouterr().err
    assert "2 unsupported operations" in err and "BatchNorm2d" in err and "fold_batchnorm=True" in err


def test_import_of_a_foreign_graph_needs_dt(tmp_path, capsys) -> None:
    g = nir.NIRGraph.from_list(nir.Affine(np.ones((2, 3), np.float32), np.zeros(2, np.float32)),
                               nir.LIF(tau=np.full(2, 1e-3), r=np.full(2, 10.0), v_leak=np.zeros(2),
                                       v_threshold=np.ones(2)))
    path = tmp_path / "foreign.nir"
    nir.write(path, g)
    assert main(["import", str(path)]) == 2
    assert "pass dt=" in capsys.readouterr().err
    assert main(["import", str(path), "--dt", "1e-4"]) == 0
    assert "dt 0.0001 s (--dt)" in capsys.readouterr().out


@pytest.mark.parametrize("argv", [["import", "missing.nir"], ["export", "missing", "-o", "x.nir"]])
def test_missing_files_are_errors(argv, tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    assert "missing" in capsys.readouterr().err


def test_export_checks_on_the_experiments_test_samples(tmp_path, shared_data, capsys) -> None:
    root = shared_data / "nmnist" / "slayer_NMNISTsmall"
    exp = {"name": "real", "data": {"name": "nmnist", "root": str(root), "train_list": "train1K.txt",
                                    "test_list": "test100.txt", "n_time_bins": 8, "cache": False},
           "model": {"name": "conv_snn", "channels": [4, 6], "kernel_size": 3}}
    torch.manual_seed(0)
    model = build_model(exp["model"], (2, 34, 34), 10)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.Conv2d | torch.nn.Linear):
                m.weight.copy_((1.5 + 2.0 * torch.randn(m.weight.shape)) / m.weight[0].numel() ** 0.5)
    ckpt = save_checkpoint(tmp_path / "real" / "checkpoint.safetensors", model,
                           config={"experiment": exp, "input_shape": [2, 34, 34], "num_classes": 10})
    out = tmp_path / "real.nir"
    assert main(["export", str(ckpt), "-o", str(out), "--check-input", "test", "--batch", "3"]) == 0
    text = capsys.readouterr().out
    assert "the first 3 samples of the test split of 'nmnist'" in text and "identical" in text
    assert out.is_file()
