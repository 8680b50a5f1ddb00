"""W4 in Brian2, which lives in its own environment: configuration errors here, the real run where one exists."""

from __future__ import annotations

import os

import pytest

from neuro.bench import WORKLOADS
from neuro.bench.brian import brian2_python, brian2_w4
from neuro.bench.run import _brian2
from neuro.errors import NeuroError


def test_no_environment_means_a_reported_skip(monkeypatch):
    monkeypatch.delenv("NEURO_BRIAN2_PYTHON", raising=False)
    assert brian2_python() is None
    result = _brian2(WORKLOADS["W4"].sizes["tiny"], None, 1, None, lambda line: None)
    assert "NEURO_BRIAN2_PYTHON" in result["skipped"]


def test_a_missing_interpreter_is_named_with_the_set_up_command(tmp_path):
    with pytest.raises(NeuroError, match=r"nope/python.*pip install brian2 'numpy<2.4'"):
        brian2_python(str(tmp_path / "nope" / "python"))


@pytest.mark.skipif(not os.environ.get("NEURO_BRIAN2_PYTHON"),
                    reason="no Brian2 environment (set NEURO_BRIAN2_PYTHON to its python; Brian2 needs numpy < 2.4)")
def test_brian2_reproduces_neuros_reservoir_spikes():
    size = WORKLOADS["W4"].sizes["tiny"]
    result = brian2_w4(size, brian2_python(), repeats=1, neuro_median_ms=1.0)
    differing, total = result["mismatch_float64"]
    assert total == size["T"] * size["B"] * size["neurons"] and differing == 0
    assert result["samples_per_s"] > 0 and result["speedup"] > 0
