"""Config loading: dataclasses from TOML tables with errors naming the key; overrides."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import pytest

from neuro.config import apply_overrides, from_mapping, load_toml, to_dict
from neuro.errors import ConfigError


@dataclass(frozen=True)
class Inner:
    lr: float = 1e-3
    mode: Literal["a", "b"] = "a"


@dataclass(frozen=True)
class Outer:
    name: str
    steps: int = 3
    sizes: tuple[int, ...] = (1, 2)
    flag: bool = False
    inner: Inner = field(default_factory=Inner)
    extra: dict[str, float] = field(default_factory=dict)
    maybe: int | None = None


def test_valid_table() -> None:
    cfg = from_mapping(Outer, {"name": "x", "steps": 4, "sizes": [3], "inner": {"lr": 1}, "extra": {"k": 2}})
    assert cfg == Outer("x", 4, (3,), False, Inner(1.0, "a"), {"k": 2.0})
    assert to_dict(cfg)["inner"] == {"lr": 1.0, "mode": "a"}


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"name": "x", "stepz": 1}, "unknown config key.*stepz"),
        ({"steps": 1}, "missing required config key name"),
        ({"name": "x", "steps": "3"}, "config key steps: expected an integer, got '3'"),
        ({"name": "x", "steps": True}, "config key steps: expected an integer"),
        ({"name": "x", "flag": 1}, "config key flag: expected true/false"),
        ({"name": "x", "inner": {"mode": "c"}}, r"config key inner.mode: expected one of \['a', 'b'\]"),
        ({"name": "x", "inner": {"lrr": 1}}, "unknown config key.*inner.lrr"),
        ({"name": "x", "sizes": [1, "2"]}, r"config key sizes\[1\]: expected an integer"),
        ({"name": "x", "maybe": "no"}, "config key maybe"),
    ],
)
def test_errors_name_the_key(table, message) -> None:
    with pytest.raises(ConfigError, match=message):
        from_mapping(Outer, table)


def test_overrides_and_toml(tmp_path) -> None:
    path = tmp_path / "e.toml"
    path.write_text('name = "x"\n[inner]\nlr = 0.1\n')
    raw = apply_overrides(load_toml(path), ["inner.lr=0.5", "steps=7", "inner.mode=b", "sizes=[4, 5]"])
    assert from_mapping(Outer, raw) == Outer("x", 7, (4, 5), inner=Inner(0.5, "b"))
    with pytest.raises(ConfigError, match="is not of the form key.path=value"):
        apply_overrides(raw, ["steps"])
    bad = tmp_path / "bad.toml"
    bad.write_text("name = \n")
    with pytest.raises(ConfigError, match="bad.toml: invalid TOML"):
        load_toml(bad)
