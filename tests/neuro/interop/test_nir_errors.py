"""Unsupported operations are all listed in one error with their fixes; graphs without dt are refused clearly."""

from __future__ import annotations

import nir
import numpy as np
import pytest
import torch
from torch import nn

from neuro import ALIF, LIF, Izhikevich, Sequential
from neuro.errors import DataFormatError, NeuroError
from neuro.interop.nir import NIRExportError, NIRImportError, from_nir, read, to_nir
from neuro.models import build_model


class _Attention(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.mha = nn.MultiheadAttention(8, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mha(x, x, x)[0]


def test_every_unsupported_operation_is_listed_with_its_fix() -> None:
    model = Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.BatchNorm2d(4), LIF(reset="subtract"), nn.MaxPool2d(2),
                       nn.Flatten(), nn.Linear(64, 8), ALIF(), _Attention(), nn.ReLU(), Izhikevich(),
                       LIF(reset={"name": "hard", "delayed": True}))
    with pytest.raises(NIRExportError) as info:
        to_nir(model, torch.zeros(1, 1, 2, 8, 8))
    problems = {p.path: p for p in info.value.problems}
    assert sorted(problems) == ["1", "10", "2", "3", "6", "7.module.mha", "8", "9"]
    assert "fold_batchnorm=True" in problems["1"].fix
    assert "AvgPool2d" in problems["3"].fix and "max-pooling" in problems["3"].reason
    assert "reset='hard'" in problems["2"].fix and "reset='hard'" in problems["10"].fix
    assert problems["6"].kind == "ALIF" and "LIF" in problems["6"].fix
    assert problems["7.module.mha"].kind == "MultiheadAttention" and "attention" in problems["7.module.mha"].reason
    assert problems["8"].kind == "ReLU" and problems["9"].kind == "Izhikevich"
    text = str(info.value)
    assert text.startswith("cannot export to NIR: 8 unsupported operations") and "No automatic fix" in text
    assert isinstance(info.value, NeuroError)


def test_quickstart_model_needs_the_batchnorm_fold() -> None:
    model = build_model({"name": "conv_snn"}, (2, 34, 34), 10)
    with pytest.raises(NIRExportError, match="2 unsupported operations") as info:
        to_nir(model, torch.zeros(1, 1, 2, 34, 34))
    assert [p.kind for p in info.value.problems] == ["BatchNorm2d", "BatchNorm2d"]
    g = to_nir(model, torch.zeros(1, 1, 2, 34, 34), fold_batchnorm=True)
    assert [type(n).__name__ for n in g.nodes.values()] == [
        "Input", "Conv2d", "LIF", "AvgPool2d", "Conv2d", "LIF", "AvgPool2d", "Flatten", "Affine", "LIF", "Output"]
    max_pool = build_model({"name": "conv_snn", "pool_type": "max"}, (2, 34, 34), 10)
    with pytest.raises(NIRExportError) as info:
        to_nir(max_pool, torch.zeros(1, 1, 2, 34, 34), fold_batchnorm=True)
    assert [p.kind for p in info.value.problems] == ["MaxPool2d", "MaxPool2d"]


def test_batchnorm_that_cannot_be_folded_says_why() -> None:
    model = Sequential(nn.Linear(4, 4), LIF(), nn.BatchNorm1d(4), nn.Linear(4, 2))
    with pytest.raises(NIRExportError) as info:
        to_nir(model, torch.zeros(1, 1, 4), fold_batchnorm=True)
    (problem,) = info.value.problems
    assert problem.path == "2" and "does not directly follow" in problem.reason


def test_foreign_graph_without_dt_asks_for_it() -> None:
    g = nir.NIRGraph.from_list(nir.Affine(np.eye(2, dtype=np.float32), np.zeros(2, np.float32)),
                               nir.LIF(tau=np.full(2, 1e-3), r=np.ones(2), v_leak=np.zeros(2), v_threshold=np.ones(2)),
                               nir.Affine(np.eye(2, dtype=np.float32), np.zeros(2, np.float32)),
                               nir.CubaLIF(tau_syn=np.full(2, 1e-3), tau_mem=np.full(2, 2e-3), r=np.ones(2),
                                           v_leak=np.zeros(2), v_threshold=np.ones(2)))
    with pytest.raises(NIRImportError) as info:
        from_nir(g)
    assert [(p.path, p.kind) for p in info.value.problems] == [("lif", "LIF"), ("cubalif", "CubaLIF")]
    assert "dt=" in info.value.problems[0].fix and "1e-4" in info.value.problems[0].fix
    assert from_nir(g, dt=1e-4)[1].dt == 1e-4


def test_nodes_neuro_cannot_simulate_are_listed() -> None:
    g = nir.NIRGraph.from_list(nir.CubaLI(tau_syn=np.ones(2), tau_mem=np.ones(2), r=np.ones(2), v_leak=np.zeros(2)),
                               nir.I(r=np.ones(2)), nir.Delay(delay=np.array([1.5e-3, 1e-3])))
    with pytest.raises(NIRImportError) as info:
        from_nir(g, dt=1e-3)
    assert [(p.kind, p.path) for p in info.value.problems] == [("CubaLI", "cubali"), ("I", "i"), ("Delay", "delay")]
    assert "whole multiples" in info.value.problems[2].reason


def test_bad_files_name_the_file(tmp_path) -> None:
    with pytest.raises(DataFormatError, match="not found"):
        read(tmp_path / "missing.nir")
    bad = tmp_path / "bad.nir"
    bad.write_bytes(b"not hdf5 at all")
    with pytest.raises(DataFormatError, match=r"bad\.nir"):
        read(bad)


class _Custom(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc, self.lif, self.pool, self.out = nn.Linear(4, 4), LIF(reset="subtract"), nn.MaxPool1d(2), LIF()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s, _ = self.lif(self.fc(x))
        return self.out(self.pool(s))[0]


def test_problems_inside_a_traced_module_are_all_listed() -> None:
    with pytest.raises(NIRExportError) as info:
        to_nir(_Custom(), torch.zeros(1, 1, 4))
    assert [(p.path, p.kind) for p in info.value.problems] == [("lif", "LIF"), ("pool", "MaxPool1d")]
