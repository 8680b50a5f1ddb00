"""The BatchNorm fold (folded == unfolded) and the verified round trip's per-layer divergence report."""

from __future__ import annotations

import nir
import numpy as np
import torch
from torch import nn

from neuro import LIF, Sequential, simulate
from neuro.interop.nir import fold_batchnorm, verify_roundtrip
from neuro.interop.nir import nodes as nir_nodes
from neuro.interop.nir import params as nir_params
from neuro.models import build_model


def _randomise_batchnorm(model: nn.Module) -> None:
    g = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm1d | nn.BatchNorm2d):
                n = m.num_features
                m.running_mean.copy_(0.3 * torch.randn(n, generator=g))
                m.running_var.copy_(0.5 + torch.rand(n, generator=g))
                m.weight.copy_(1.0 + 0.5 * torch.randn(n, generator=g))
                m.bias.copy_(0.2 + 0.3 * torch.randn(n, generator=g))


def _nmnist_like(steps: int = 10, batch: int = 2) -> torch.Tensor:
    return (torch.rand(steps, batch, 2, 34, 34) < 0.15).to(torch.get_default_dtype())


def test_folded_equals_unfolded_quickstart_model_in_float64() -> None:
    model = build_model({"name": "conv_snn"}, (2, 34, 34), 10).double().eval()
    _randomise_batchnorm(model)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.Conv2d | nn.Linear):
                m.weight.mul_(3.0)
    result = fold_batchnorm(model)
    assert result.folded == (("1", "0"), ("5", "4")) and result.unfoldable == ()
    assert isinstance(result.model[1].module, nn.Identity) and result.model[0].module.bias is not None
    assert isinstance(model[1].module, nn.BatchNorm2d), "the original is left unchanged"
    x = _nmnist_like().double()
    with torch.no_grad():
        a, b = simulate(model, x, record=True), simulate(result.model, x, record=True)
    assert a.records["2.spikes"].sum() > 0 and a.records["6.spikes"].sum() > 0
    for key in a.records:
        if key.endswith("spikes"):
            assert torch.equal(a.records[key], b.records[key]), key
        else:
            torch.testing.assert_close(a.records[key], b.records[key], rtol=0, atol=1e-12)


def test_linear_batchnorm1d_fold() -> None:
    model = Sequential(nn.Linear(5, 4), nn.BatchNorm1d(4), LIF()).double().eval()
    _randomise_batchnorm(model)
    folded = fold_batchnorm(model).model
    x = torch.randn(10, 3, 5, dtype=torch.float64)
    with torch.no_grad():
        torch.testing.assert_close(model[1](model[0](x)), folded[0](x), rtol=0, atol=1e-12)
        assert torch.equal(simulate(model, 3 * x).output, simulate(folded, 3 * x).output)


def test_verified_round_trip_of_the_quickstart_model_is_identical() -> None:
    model = build_model({"name": "conv_snn"}, (2, 34, 34), 10).eval()
    _randomise_batchnorm(model)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.Conv2d | nn.Linear):
                m.weight.mul_(3.0)
    report = verify_roundtrip(model, _nmnist_like(), fold_batchnorm=True)
    assert report.ok, str(report)
    assert [layer.node for layer in report.layers] == ["lif_2", "lif_6", "lif_10"]
    assert all(layer.spikes_differing == 0 for layer in report.layers)
    assert report.layers[0].spikes > 0 and report.layers[1].spikes > 0
    assert isinstance(report.graph, nir.NIRGraph) and report.graph.metadata["dt"] == 1e-3
    assert "identical" in str(report)


def test_a_wrong_conversion_is_caught_layer_by_layer(monkeypatch) -> None:
    def wrong_lif(module, shape):  # forgets v_reset, as exports that "break silently" do
        node = nir_params.export_lif(module, shape)
        node.v_reset = np.zeros_like(node.v_reset) + 0.5
        return node

    monkeypatch.setitem(nir_nodes.EXPORTERS, LIF, wrong_lif)
    model = Sequential(nn.Linear(4, 6), LIF(v_reset=-0.5), nn.Linear(6, 3), LIF(v_reset=-0.5))
    with torch.no_grad():
        model[0].module.weight.abs_()
    report = verify_roundtrip(model, 3 * torch.rand(30, 2, 4))
    assert not report.ok
    first = report.layers[0]
    assert first.node == "lif_1" and first.spikes > 0
    assert first.spikes_differing > 0 and first.max_abs["v"] > 0.1
    assert "DIVERGES" in str(report) and "DIVERGED" in str(report)
