"""W4 in Brian2, which lives in its own environment: configuration errors here, the real run where one exists."""

from __future__ import annotations

import os

import pytest

from neuro.bench import WORKLOADS
from neuro.bench.brian import brian2_python, brian2_w4, modes
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


def test_brian2_is_timed_in_its_runtime_and_standalone_modes():
    assert modes(1) == [("runtime", 0), ("standalone", 0)]
    assert modes(4) == [("runtime", 0), ("standalone", 0), ("standalone", 4)]


def test_neuro_is_compared_with_the_fastest_exact_mode(monkeypatch):
    """With the worker replaced (no Brian2 needed): a failing mode is reported, a faster mode whose spikes differ
    from neuro's is not the reference, the fastest exact one is."""
    import torch

    import neuro.bench.brian as brian

    size = WORKLOADS["W4"].sizes["tiny"]
    ref = WORKLOADS["W4"].build("neuro", size, torch.float64).spikes()["reservoir"].numpy().astype(bool)
    seconds = {("runtime", 0): 0.5, ("standalone", 0): 0.2, ("standalone", 2): 0.1}
    calls = []

    def worker(python, current, w_rec, dtype, repeats, timeout, device="runtime", threads=0):
        calls.append((device, threads, dtype))
        if (device, threads) == ("standalone", 3):
            raise NeuroError("Brian2 worker failed: no C++ compiler")
        spikes = ref.copy()
        if (device, threads) == ("standalone", 2):
            spikes[0, 0, 0] = not spikes[0, 0, 0]  # fastest, but not neuro's reservoir
        return {"spikes": spikes, "seconds": [seconds[device, threads]] * repeats, "target": device, "version": "x"}

    monkeypatch.setattr(brian, "_worker", worker)
    result = brian2_w4(size, "python", repeats=2, neuro_median_ms=10.0,
                       devices=[("runtime", 0), ("standalone", 0), ("standalone", 2), ("standalone", 3)])
    assert "no C++ compiler" in result["modes"]["standalone-3t"]["error"]
    assert result["modes"]["standalone-2t"]["mismatch_float64"][0] == 1
    assert result["mode"] == "standalone" and result["reservoir_ms"] == pytest.approx(200.0)
    assert result["speedup"] == pytest.approx(result["neuro_samples_per_s"] / result["samples_per_s"])
    assert {(d, t) for d, t, dtype in calls if dtype == "float64"} == set(seconds) | {("standalone", 3)}


@pytest.mark.skipif(not os.environ.get("NEURO_BRIAN2_PYTHON"),
                    reason="no Brian2 environment (set NEURO_BRIAN2_PYTHON to its python; Brian2 needs numpy < 2.4)")
def test_brian2_reproduces_neuros_reservoir_spikes():
    size = WORKLOADS["W4"].sizes["tiny"]
    result = brian2_w4(size, brian2_python(), repeats=1, neuro_median_ms=1.0,
                       devices=[("runtime", 0), ("standalone", 0), ("standalone", 2)])
    assert set(result["modes"]) == {"runtime", "standalone", "standalone-2t"}
    for name, mode in result["modes"].items():  # every mode simulates neuro's reservoir exactly
        assert "error" not in mode, mode
        differing, total = mode["mismatch_float64"]
        assert total == size["T"] * size["B"] * size["neurons"] and differing == 0, name
    assert result["mode"] in result["modes"]
    assert result["samples_per_s"] == max(m["samples_per_s"] for m in result["modes"].values())
    assert result["speedup"] > 0
