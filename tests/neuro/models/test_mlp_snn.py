"""mlp_snn: the fully connected model of SpikingLinear layers, from the registry to energy and NIR."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from neuro import backends
from neuro.analysis import count_ops
from neuro.cli import main
from neuro.errors import ConfigError
from neuro.layers import EventLinear, SpikingLinear
from neuro.models import build_model
from tests.conftest import REPO


def test_builds_the_classic_mlp_and_counts_its_parameters() -> None:
    net = build_model({"name": "mlp_snn"}, (2, 34, 34), 10)
    fused = [m for m in net.modules() if isinstance(m, SpikingLinear)]
    assert [(m.linear.in_features, m.linear.out_features) for m in fused] == [(2312, 512), (512, 10)]
    assert sum(p.numel() for p in net.parameters()) == 2312 * 512 + 512 + 512 * 10 + 10
    membrane = build_model({"name": "mlp_snn", "hidden": [32, 16], "readout": "membrane", "recompute": True},
                           (8,), 3)
    assert isinstance(membrane[-2], EventLinear) and all(m.recompute for m in membrane.modules()
                                                         if isinstance(m, SpikingLinear))
    out, _ = membrane(torch.rand(5, 2, 8))
    assert out.shape == (5, 2, 3)
    for bad in ({"hidden": [0]}, {"readout": "rate"}, {"max_density": 1.5}, {"depth": 2}):
        with pytest.raises(ConfigError):
            build_model({"name": "mlp_snn", **bad}, (8,), 3)


def test_fused_and_reference_agree_and_ops_are_counted_on_the_parts() -> None:
    torch.manual_seed(0)
    net = build_model({"name": "mlp_snn", "hidden": [40], "neuron": {"name": "lif", "tau_mem": 4e-3}}, (60,), 4)
    with torch.no_grad():
        net[0].linear.weight.mul_(6)
    x = (torch.rand(12, 3, 60) < 0.08).float()
    with torch.no_grad():
        fused = net(x)[0]
        with backends.use("reference"):
            ref = net(x)[0]
    assert torch.equal(fused, ref)
    ops = count_ops(net, x)
    names = [layer.name for layer in ops.layers]
    assert names[:2] == ["0.linear", "0.neuron"]
    synops = float((x != 0).sum()) * 40 / 3  # every input event reaches the 40 hidden neurons, per sample
    assert ops["0.linear"].synops == pytest.approx(synops)
    assert ops["0.neuron"].spikes > 0


def test_experiment_runs_and_its_run_exports_and_estimates_energy(tmp_path, monkeypatch, capsys) -> None:
    shutil.copytree(REPO / "datasets" / "nmnist_small", tmp_path / "datasets" / "nmnist_small")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NEURO_DATA_ROOT", raising=False)
    exp = str(REPO / "experiments" / "mlp_nmnist.toml")
    tiny = ["train.epochs=1", "data.n_time_bins=3", "model.hidden=[64]", "train.batch_size=50"]
    assert main(["run", exp, "--out", "runs", *[a for item in tiny for a in ("--set", item)]]) == 0
    run = tmp_path / "runs" / "mlp_nmnist"
    assert 0.0 <= json.loads((run / "metrics.json").read_text())["test_accuracy"] <= 1.0
    assert main(["energy", str(run), "--chip", "cmos45"]) == 0
    report = json.loads((run / "energy" / "energy.json").read_text())
    assert "1.linear" in json.dumps(report) and "2.linear" in json.dumps(report)  # 0 is the flatten
    assert main(["export", str(run), "-o", str(tmp_path / "mlp.nir")]) == 0  # verified round trip on the test split
    assert (tmp_path / "mlp.nir").stat().st_size > 0
    capsys.readouterr()
