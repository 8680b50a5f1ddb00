"""The tuning file: break-even densities measured on this machine become the event-driven layers' defaults."""

from __future__ import annotations

import json

import pytest

from neuro.backends import tuning
from neuro.bench.run import _break_even, tuning_entries
from neuro.errors import ConfigError
from neuro.layers import EventConv2d, EventLinear, SpikingLinear
from neuro.layers.event_conv import default_max_density
from neuro.layers.event_linear import DEFAULT_MAX_DENSITY, DEFAULT_MAX_FORWARD_DENSITY

ENTRIES = {"event_linear": [{"in_features": 2312, "out_features": 512, "max_density": 0.15,
                             "max_forward_density": 0.2},
                            {"in_features": 256, "out_features": 1024, "max_density": 0.1,
                             "max_forward_density": 0.1}],
           "event_conv2d": [{"in_channels": 2, "out_channels": 12, "kernel_size": 5, "max_density": 0.02},
                            {"in_channels": 12, "out_channels": 32, "kernel_size": 5, "max_density": 0.1}]}


@pytest.fixture
def tuned(tmp_path, monkeypatch):
    path = tmp_path / "cache" / "tuning.json"
    monkeypatch.setenv("NEURO_TUNING", str(path))
    assert tuning.save(ENTRIES) == path
    return path


def test_round_trip_written_atomically_with_this_machine(tuned):
    data = json.loads(tuned.read_text())
    assert data["format"] == 1 and data["machine"] == tuning.machine() and data["measured"].endswith("Z")
    assert [p.name for p in tuned.parent.iterdir()] == ["tuning.json"]  # no temporary file left behind
    assert tuning.load() == data


def test_nearest_measured_shape_gives_the_thresholds(tuned):
    assert tuning.event_conv2d_density(2, 12) == 0.02
    assert tuning.event_conv2d_density(3, 8) == 0.02
    assert tuning.event_conv2d_density(16, 64) == 0.1
    assert tuning.event_linear_densities(2000, 400) == (0.15, 0.2)
    assert tuning.event_linear_densities(128, 1024) == (0.1, 0.1)


def test_layers_default_to_the_tuned_thresholds_and_an_explicit_one_wins(tuned):
    assert EventConv2d(2, 12, 5).max_density == 0.02
    assert EventConv2d(12, 32, 5).max_density == 0.1
    assert EventConv2d(2, 12, 5, max_density=0.3).max_density == 0.3
    layer = EventLinear(256, 1024)
    assert (layer.max_density, layer.max_forward_density) == (0.1, 0.1)
    assert EventLinear(256, 1024, max_density=0.05, max_forward_density=0.5).max_forward_density == 0.5
    assert SpikingLinear(2312, 512).linear.max_density == 0.15
    from neuro.models.mlp_snn import MLPSNNConfig, build_mlp_snn

    net = build_mlp_snn(MLPSNNConfig(hidden=(512,)), (2312,), 10)
    assert net[0].linear.max_density == 0.15
    assert build_mlp_snn(MLPSNNConfig(hidden=(512,), max_density=0.01), (2312,), 10)[0].linear.max_density == 0.01


def test_no_file_or_disabled_means_built_in_defaults(tmp_path, monkeypatch):
    monkeypatch.setenv("NEURO_TUNING", str(tmp_path / "absent.json"))
    assert tuning.load() is None and tuning.event_conv2d_density(2, 12) is None
    assert EventConv2d(2, 12, 5).max_density == default_max_density(2)
    layer = EventLinear(10, 4)
    assert (layer.max_density, layer.max_forward_density) == (DEFAULT_MAX_DENSITY, DEFAULT_MAX_FORWARD_DENSITY)
    monkeypatch.setenv("NEURO_TUNING", "")
    assert tuning.default_path() is None and tuning.load() is None
    with pytest.raises(ConfigError, match="NEURO_TUNING"):
        tuning.save(ENTRIES)
    monkeypatch.delenv("NEURO_TUNING")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert tuning.default_path() == tmp_path / "xdg" / "neuro" / "tuning.json"


def test_another_machine_is_ignored_with_a_warning(tuned):
    data = json.loads(tuned.read_text())
    data["machine"] = {**data["machine"], "cpu": "some other CPU"}
    tuned.write_text(json.dumps(data))
    with pytest.warns(UserWarning, match="not this machine"):
        assert tuning.event_conv2d_density(2, 12, path=tuned) is None


@pytest.mark.parametrize(("change", "match"), [
    (lambda d: "{not json", "invalid JSON"),
    (lambda d: {**d, "format": 2}, "'format' must be 1"),
    (lambda d: {**d, "extra": 1}, r"unknown keys \['extra'\]"),
    (lambda d: {**d, "event_conv2d": {"in_channels": 2}}, "'event_conv2d' must be a list"),
    (lambda d: {**d, "event_conv2d": [{"in_channels": 2, "max_density": 0.1}]}, r"event_conv2d\[0\] must have"),
    (lambda d: {**d, "event_linear": [{**ENTRIES["event_linear"][0], "max_density": 1.5}]},
     r"event_linear\[0\]\.max_density must be a density"),
    (lambda d: {**d, "event_linear": [{**ENTRIES["event_linear"][0], "in_features": 2.5}]},
     r"event_linear\[0\]\.in_features must be a positive integer"),
    (lambda d: {**d, "machine": "x"}, "'machine' must be an object"),
])
def test_malformed_file_names_the_file_and_key(tuned, change, match):
    data = change(json.loads(tuned.read_text()))
    tuned.write_text(data if isinstance(data, str) else json.dumps(data))
    with pytest.raises(ConfigError, match=match) as info:
        tuning.load()
    assert str(tuned) in str(info.value)


def _rows(event, dense):
    return [{"density": d, "event_ms": e, "dense_ms": n, "event_forward_ms": e / 2, "dense_forward_ms": n / 3}
            for d, e, n in zip((0.01, 0.05, 0.1, 0.2, 0.4), event, dense, strict=True)]


def test_break_even_is_the_first_crossing():
    assert _break_even(_rows([1, 2, 3, 9, 9], [5] * 5)) == 0.1
    assert _break_even(_rows([1, 9, 3, 9, 1], [5] * 5)) == 0.01  # the noisy wins above the first loss do not count
    assert _break_even(_rows([9] * 5, [5] * 5)) == 0.0
    assert _break_even(_rows([1] * 5, [5] * 5)) == 0.4


def test_crossover_result_becomes_tuning_entries(tmp_path):
    crossover = {"EventLinear 2312->512, 3200 rows": {"event_faster_up_to": 0.15, "event_forward_faster_up_to": 0.1},
                 "EventConv2d 2->12 5x5, 512 x 34x34": {"event_faster_up_to": 0.02}}
    entries = tuning_entries(crossover)
    assert entries == {"event_linear": [{"in_features": 2312, "out_features": 512, "max_density": 0.15,
                                         "max_forward_density": 0.15}],  # the forward band is never below
                       "event_conv2d": [{"in_channels": 2, "out_channels": 12, "kernel_size": 5,
                                         "max_density": 0.02}]}
    path = tuning.save(entries, tmp_path / "t.json")
    assert tuning.event_linear_densities(512, 512, path=path) == (0.15, 0.15)
