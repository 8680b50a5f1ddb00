"""The benchmark harness on tiny sizes: every implementation agrees on the spikes, reports are complete."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from neuro.bench import WORKLOADS
from neuro.bench.harness import OUTSIDE, mmap_env, paired_ratios, profile_ops, spike_mismatches, stats, time_interleaved
from neuro.bench.peers import available, neuron

# Norse 1.1 calls torch.jit.script at import, which torch 2.13 deprecates.
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")


@pytest.mark.parametrize("name", sorted(WORKLOADS))
def test_every_implementation_produces_neuros_spikes(name):
    spec = WORKLOADS[name]
    impls = [i for i in spec.impls if i in available()]
    assert "neuro" in impls and "torch" in impls
    size = spec.sizes["tiny"]
    reference = spec.build("neuro", size, torch.float64, **spec.kwargs).spikes()
    assert sum(int(s.sum()) for s in reference.values()) > 0, "a silent network verifies nothing"
    for impl in impls:
        case = spec.build(impl, size, torch.float64, **spec.kwargs)
        differing, total = spike_mismatches(reference, case.spikes())
        assert total == sum(s.numel() for s in reference.values())
        assert differing == 0, f"{name}: {impl} differs from neuro in {differing}/{total} spikes"
        case.step()  # the timed work runs too


def test_peer_neurons_agree_on_ties_at_the_threshold():
    """Inputs that land exactly on the threshold: every implementation fires (H(0) = 1), Norse included."""
    x = torch.tensor([[1.0], [0.5], [0.75], [0.0], [1.0]])  # h: 1, 1, 1.25 (x2 for Norse) ...
    expected = neuron("neuro")(x)
    for impl in available():
        if impl in ("neuro", "norse"):
            continue
        assert torch.equal(neuron(impl)(x), expected), impl


def test_harness_pieces():
    samples = time_interleaved({"a": lambda: None, "b": lambda: sum(range(100))}, repeats=3, warmup=1)
    assert [len(v) for v in samples.values()] == [3, 3]
    s = stats([0.003, 0.001, 0.002])
    assert (s.median, s.min, s.max) == pytest.approx((2.0, 1.0, 3.0))
    a = {"x": torch.tensor([1.0, 0.0, 1.0])}
    assert spike_mismatches(a, {"x": torch.tensor([1.0, 1.0, 1.0])}) == (1, 3)


def test_paired_ratios_cancel_a_slow_round():
    # round 2 ran on a machine twice as slow for both: its ratio is the others', the ratio of medians is not
    neuro, peer = [10.0, 20.0, 11.0], [40.0, 80.0, 42.0]
    r = paired_ratios(neuro, peer)
    assert r.samples == pytest.approx([0.25, 0.25, 11 / 42])
    assert (r.median, r.min, r.max) == pytest.approx((0.25, 0.25, 11 / 42))
    with pytest.raises(ValueError, match="same non-zero number of rounds"):
        paired_ratios([1.0], [1.0, 2.0])


def test_profile_names_the_operations_that_take_the_time():
    a, b = torch.randn(500, 500), torch.randn(500, 500)
    ops = profile_ops(lambda: (a @ b, a + b), repeats=2, top=3)
    torch_ops = [op for op in ops if op.name != OUTSIDE]
    assert torch_ops[0].name in ("aten::mm", "aten::matmul") and torch_ops[0].ms > 0
    assert len(ops) <= 3 and 0 < sum(op.share for op in ops) <= 1 + 1e-9
    assert [op.ms for op in ops] == sorted((op.ms for op in ops), reverse=True)
    busy = profile_ops(lambda: sum(i * i for i in range(200_000)), repeats=2)  # pure Python: no torch op at all
    assert busy[0].name == OUTSIDE and busy[0].share > 0.9


def test_peak_memory_in_a_fresh_process():
    code = ("import torch; from neuro.bench.harness import peak_memory; "
            "print(peak_memory(lambda: torch.ones(40 * 2**20 // 4).sum()))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=mmap_env(), check=True,
                         cwd=str(__import__("pathlib").Path(__file__).resolve().parents[3]))
    peak = int(out.stdout.strip().splitlines()[-1])
    assert 39 * 2**20 <= peak <= 60 * 2**20


def test_run_report_and_cli(tmp_path):
    from neuro.bench.run import markdown, run
    from neuro.cli import main

    report = run(["W3-fwd", "data"], size="tiny", repeats=1, warmup=0, log=lambda _: None, profile=True)
    row = report["results"]["W3-fwd"]
    assert set(row["profile"]) == {"neuro", row["fastest_peer"]} and row["profile"]["neuro"][0]["ms"] > 0
    assert row["spikes_identical"] and row["ratio"] > 0 and set(row["time_ms"]) == set(available())
    assert row["paired_ratio"]["median"] > 0 and len(row["paired_ratio"]["samples"]) == 1
    assert "skipped" in report["results"]["data"] or "speedup" in report["results"]["data"]
    table = markdown(report)
    assert "| W3-fwd |" in table and "Machine:" in table
    json.dumps(report)
    out = tmp_path / "bench.json"
    assert main(["bench", "--size", "tiny", "--only", "W3-fwd", "--repeats", "1", "--no-thp", "--json", str(out)]) == 0
    assert json.loads(out.read_text())["results"]["W3-fwd"]["spikes_identical"]
    assert "event-driven thresholds: the built-in defaults." in table  # the tests run without a tuning file
    from neuro.backends._parallel import executor

    assert report["machine"]["kernel_threads"] == executor()
    assert ("on torch's OpenMP threads; " if executor() == "openmp" else "own thread pool") in table
    del report["machine"]["kernel_threads"]  # a report from before the choice existed: no claim either way
    assert "kernels on" not in markdown(report)
    with pytest.raises(SystemExit, match="--save-tuning needs crossover"):
        main(["bench", "--size", "tiny", "--only", "W3-fwd", "--no-thp", "--save-tuning", "--json", str(out)])


def test_memory_report_has_the_recompute_variant():
    from neuro.bench.run import markdown, run

    report = run(["W1-mem"], size="tiny", repeats=1, warmup=0, log=lambda _: None)
    row = report["results"]["W1-mem"]
    assert set(row["peak_bytes"]) == set(available()) and all(v is not None for v in row["peak_bytes"].values())
    assert row["step_ms"]["neuro"] > 0 and row["recompute_step_ms"] > 0 and row["recompute_bytes"] is not None
    table = markdown(report)
    assert "| W1-mem |" in table
