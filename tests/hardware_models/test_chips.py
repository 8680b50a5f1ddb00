"""Chip registry: every chip loads, every figure is sourced, labelled and has a node; clear errors."""

from __future__ import annotations

import pytest

from hardware_models.chips import CHIPS, STATUSES, load_chip, parse_chip
from neuro.errors import ConfigError, UnknownNameError


@pytest.mark.parametrize("name", sorted(CHIPS))
def test_every_chip_loads_with_sourced_figures(name: str) -> None:
    chip = load_chip(name)
    assert chip.name == name and chip.figures
    assert chip.process_nm is not None or chip.process_status == "unverified"
    for key, values in chip.figures.items():
        assert values[0].default and not any(f.default for f in values[1:]), key
        for fig in values:
            assert fig.source.strip() and fig.status in STATUSES and fig.operation.strip()
            assert fig.process_nm is not None or chip.process_status == "unverified"
    if chip.host:
        assert load_chip(chip.host).kind == "digital"


def test_horowitz_defaults_and_unverified_labels() -> None:
    cmos = load_chip("cmos45")
    assert cmos.figure("mac_fp32").value == 4.6 and cmos.figure("add_fp32").value == 0.9
    assert cmos.figure("mult_fp32").value + cmos.figure("add_fp32").value == pytest.approx(4.6)
    # PAPERS §5.1 marks these UNVERIFIED: they must not be presented as checked
    for key in ("add_fp16", "mult_fp16", "add_int8", "mult_int8"):
        assert cmos.figure(key).status == "unverified" and not cmos.figure(key).verified
    assert "[UNVERIFIED]" in cmos.figure("add_int8").label()


def test_disagreeing_sources_are_all_recorded() -> None:
    tn = load_chip("truenorth")
    values = {f.value: f.status for f in tn.figures["sop"]}
    assert values == {21.7: "derived", 2.5: "secondary", 26.0: "unverified"}
    assert tn.figure("sop").value == 21.7 and tn.figure("sop", alternative=2).value == 26.0
    loihi = load_chip("loihi")
    assert loihi.figure("sop").value == 23.6
    assert loihi.figure("synaptic_update").status == "unverified"  # the 120 pJ of caveat (a)
    assert not load_chip("speck").has("sop")  # no per-SOP energy published (PAPERS §5.4)


def test_unknown_chip_lists_the_valid_names() -> None:
    with pytest.raises(UnknownNameError) as err:
        load_chip("loihi3")
    assert "loihi3" in str(err.value) and all(name in str(err.value) for name in CHIPS)
    with pytest.raises(UnknownNameError, match="no figure 'sop'"):
        load_chip("cmos45").figure("sop")


GOOD = {"name": "x", "title": "X", "kind": "digital", "process_nm": 7, "process_source": "s",
        "figures": {"add_fp32": [{"value": 1.0, "unit": "pJ", "operation": "add", "source": "s", "status": "primary"}]}}


def _with_figure(**changes):
    fig = {**GOOD["figures"]["add_fp32"][0], **changes}
    return {**GOOD, "figures": {"add_fp32": [fig]}}


def test_chip_toml_validation() -> None:
    assert parse_chip(GOOD).figure("add_fp32").default
    with pytest.raises(ConfigError, match="every figure needs a source"):
        parse_chip(_with_figure(source=" "))
    with pytest.raises(ConfigError, match="status: expected one of"):
        parse_chip(_with_figure(status="probably"))
    with pytest.raises(ConfigError, match="missing required key 'source'"):
        parse_chip({**GOOD, "figures": {"a": [{"value": 1, "unit": "pJ", "operation": "o", "status": "primary"}]}})
    two = {**GOOD, "figures": {"a": [GOOD["figures"]["add_fp32"][0]] * 2}}
    with pytest.raises(ConfigError, match="exactly one must have default = true, found 0"):
        parse_chip(two)
    with pytest.raises(ConfigError, match="process_nm is missing"):
        parse_chip({k: v for k, v in GOOD.items() if k != "process_nm"})
    with pytest.raises(ConfigError, match="kind must be one of"):
        parse_chip({**GOOD, "kind": "quantum"})
