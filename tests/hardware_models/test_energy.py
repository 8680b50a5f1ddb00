"""Energy conventions: hand-computed energies, the (T-1) E_MAC FL(1) identity, linearity, errors."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from hardware_models.energy import CONVENTIONS, compare, estimate
from neuro import IF, LIF, Sequential
from neuro.analysis import SUM_FIELDS, LayerOps, OpCounts, count_ops
from neuro.errors import ConfigError, UnknownNameError

PJ = 1e-12


def tiny_counts() -> OpCounts:
    """The counts of tests/neuro/analysis' tiny network (two Linear + IF layers, T = 3, known spikes)."""
    fc1, fc2 = nn.Linear(3, 2, bias=False), nn.Linear(2, 1, bias=False)
    with torch.no_grad():
        fc1.weight.copy_(torch.tensor([[1.0, 1.0, 0.0], [0.0, 0.0, 1.0]]))
        fc2.weight.fill_(0.5)
    x = torch.tensor([[1.0, 0.0, 1.0], [0.0, 0.0, 0.0], [1.0, 1.0, 1.0]]).unsqueeze(1)
    return count_ops(Sequential(fc1, IF(), fc2, IF()), x)


def test_golden_sdt_and_per_step_on_spike_input() -> None:
    c = tiny_counts()
    # both layers receive spikes: AC = rate * macs = synops: 10 and 4 accumulates of 0.9 pJ
    for conv in ("sdt", "per_step"):
        r = estimate(c, "cmos45", conv)
        assert r.convention == conv and r.total == pytest.approx(14 * 0.9 * PJ)
        assert [x.energy.get("ac", 0.0) for x in r.layers] == pytest.approx([9 * PJ, 0, 3.6 * PJ, 0])
    assert estimate(c, "loihi", "sdt").total == pytest.approx(14 * 23.6 * PJ)
    assert estimate(c, "tianjic", "sdt").total == pytest.approx(14 * 1.54 * PJ)
    assert estimate(c, "cmos45", "sdt", precision="int32").total == pytest.approx(14 * 0.1 * PJ)
    assert estimate(c, "rram_imc", "sdt").total == pytest.approx(14 * 0.0562 * PJ)


def test_golden_memory_inclusive() -> None:
    r = estimate(tiny_counts(), "cmos45", "memory")
    fc1, if1 = r.layers[0].energy, r.layers[1].energy
    sram = 1.25 * PJ  # per byte
    assert fc1["ac"] == pytest.approx(10 * 0.9 * PJ)
    assert fc1["weight_mem"] == pytest.approx(40 * sram)  # 10 fetches of 4-byte weights
    assert fc1["act_mem"] == pytest.approx((9 / 8 + 6 * 4) * sram)  # 9 input bits read, 6 fp32 currents written
    assert if1["neuron"] == pytest.approx(6 * (3.7 + 0.9 + 0.9) * PJ)  # leak mult + add, threshold compare
    assert if1["state_mem"] == pytest.approx(48 * sram)  # v read and written, 6 updates x 4 bytes
    assert if1["act_mem"] == pytest.approx((6 * 4 + 6 / 8) * sram)  # currents read, spike bits written
    dram = estimate(tiny_counts(), "cmos45", "memory", weight_memory="dram").layers[0].energy["weight_mem"]
    assert dram == pytest.approx(40 * 162.5 * PJ)


def test_golden_bit_matched_ann() -> None:
    counts = OpCounts((LayerOps("fc", "Linear", "synapse", time_steps=4, macs=40.0, input_elements=16.0,
                                outputs=8.0, input_events=4.0),
                       LayerOps("lif", "LIF", "neuron", time_steps=4, state_updates=8.0, state_vars=1)), 4, 1)
    r = estimate(counts, "cmos45", "ann")
    fc, lif = r.layers[0].energy, r.layers[1].energy
    assert fc["mac"] == pytest.approx(10 * 4.6 * PJ)  # FL = 10 MACs, once
    assert fc["weight_mem"] == pytest.approx(10 * 4 * 1.25 * PJ)
    assert fc["act_mem"] == pytest.approx((4 + 2) * 4 * 1.25 * PJ)  # 4 inputs read, 2 outputs written
    assert lif["neuron"] == pytest.approx(2 * 0.9 * PJ) and lif["act_mem"] == pytest.approx(2 * 4 * 1.25 * PJ)
    assert r.total == pytest.approx(137.8 * PJ)
    int8 = estimate(counts, "cmos45", "ann", precision="int8").layers[0].energy["mac"]
    assert int8 == pytest.approx(10 * (0.2 + 0.03) * PJ)


@pytest.mark.parametrize("t", [1, 4, 7])
def test_conventions_differ_by_t_minus_one_first_layer_macs(t: int) -> None:
    net = Sequential(nn.Conv2d(2, 4, 3, padding=1), IF(), nn.Flatten(), nn.Linear(4 * 25, 10), LIF())
    with torch.no_grad():
        net[0].module.weight.mul_(4.0)
    x = torch.rand(t, 3, 2, 5, 5)  # real-valued input: the first conv is a MAC layer
    c = count_ops(net, x)
    assert not c["0"].input_binary and c["3"].input_binary and c["3"].synops > 0
    fl1 = c["0"].macs_per_step
    assert fl1 == 25 * 4 * 2 * 9
    for chip in ("cmos45", "loihi"):
        sdt, step = estimate(c, chip, "sdt"), estimate(c, chip, "per_step")
        assert step.total - sdt.total == pytest.approx((t - 1) * 4.6 * PJ * fl1, rel=1e-9, abs=1e-20)
    loihi = estimate(c, "loihi", "sdt")
    assert any("host chip 'cmos45'" in n for n in loihi.notes)


def _scaled(counts: OpCounts, k: float) -> OpCounts:
    return dataclasses.replace(counts, layers=tuple(
        dataclasses.replace(x, **{f: getattr(x, f) * k for f in SUM_FIELDS}) for x in counts.layers))


@given(st.floats(0.01, 100.0), st.sampled_from(["sdt", "per_step", "memory", "ann"]),
       st.sampled_from(["cmos45", "loihi", "rram_imc", "truenorth"]))
def test_energy_is_linear_in_counts(k: float, convention: str, chip: str) -> None:
    c = tiny_counts()
    base = estimate(c, chip, convention).total
    assert base > 0
    assert estimate(_scaled(c, k), chip, convention).total == pytest.approx(k * base, rel=1e-9)


def test_power_convention_and_chips_without_sop() -> None:
    c = tiny_counts()
    with pytest.raises(ConfigError, match="convention='power'"):
        estimate(c, "speck", "sdt")
    r = estimate(c, "speck", "power", duration_s=0.05)
    assert r.total == pytest.approx(0.70e-3 * 0.05) and r.layers[0].name == "(chip)"
    with pytest.raises(ConfigError, match="needs duration_s"):
        estimate(c, "speck", "power")


def test_reports_name_convention_figures_and_unverified_use() -> None:
    r = estimate(tiny_counts(), "loihi", "memory")
    assert r.convention == "memory" and "memory-inclusive" in r.description
    keys = {f.key for f in r.figures}
    assert {"sop", "neuron_update", "spike"} <= keys
    assert any("not checked" in n and "neuron_update (unverified)" in n for n in r.notes)
    text = r.table()
    assert "convention 'memory'" in text and "[UNVERIFIED]" in text
    d = r.to_dict()
    assert d["total_joules"] == pytest.approx(r.total) and d["convention"] == "memory"
    assert estimate(tiny_counts(), "cmos45", "syops").convention == "per_step"  # alias


def test_errors_and_compare() -> None:
    c = tiny_counts()
    with pytest.raises(UnknownNameError, match="sdt"):
        estimate(c, "cmos45", "flops")
    with pytest.raises(UnknownNameError, match="fp32"):
        estimate(c, "cmos45", precision="bf16")
    reports = compare(c, ["cmos45", "speck"])
    assert set(reports) == {("cmos45", conv) for conv in ("sdt", "per_step", "memory", "ann")}
    assert set(CONVENTIONS) == {"sdt", "per_step", "memory", "ann", "power"}
