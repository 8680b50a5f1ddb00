"""Configuration as data: frozen dataclasses filled from TOML, with errors that name the key.

A config class is a frozen dataclass whose fields carry type annotations. :func:`from_mapping` builds
it from a parsed TOML table, rejecting unknown keys, missing required keys and values of the wrong
type, always naming the full dotted key (``train.lr``) and what was expected.

Example:
    >>> from dataclasses import dataclass
    >>> @dataclass(frozen=True)
    ... class Train:
    ...     epochs: int = 1
    ...     lr: float = 1e-3
    >>> from_mapping(Train, {"epochs": 3}).epochs
    3
"""

from __future__ import annotations

import dataclasses
import tomllib
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar, Union, get_args, get_origin

from neuro.errors import ConfigError, unknown_name

T = TypeVar("T")

__all__ = ["apply_overrides", "from_mapping", "load_toml", "named_entry", "resolve_named", "to_dict"]


def load_toml(path: str | Path) -> dict[str, Any]:
    """Read a TOML file, turning syntax errors into :class:`ConfigError` naming the file."""
    path = Path(path)
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None


def apply_overrides(data: Mapping[str, Any], overrides: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """Return a copy of ``data`` with ``key.path=value`` overrides applied.

    Values are parsed as TOML (``3``, ``1e-3``, ``true``, ``"text"``, ``[1, 2]``); a bare word that
    is not valid TOML is taken as a string, so ``--set data.name=nmnist`` works without quotes.
    """
    out = _deep_copy(data)
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r} is not of the form key.path=value")
        key, raw = item.split("=", 1)
        key = key.strip()
        if not key or any(not part for part in key.split(".")):
            raise ConfigError(f"override {item!r} has an empty key")
        try:
            value = tomllib.loads(f"v = {raw}")["v"]
        except tomllib.TOMLDecodeError:
            value = raw
        node = out
        parts = key.split(".")
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"override {item!r}: {part!r} is a value, not a table")
            node = child
        node[parts[-1]] = value
    return out


def _deep_copy(data: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _deep_copy(v) if isinstance(v, Mapping) else v for k, v in data.items()}


def from_mapping(cls: type[T], data: Mapping[str, Any], where: str = "") -> T:
    """Build the dataclass ``cls`` from ``data``, validating keys and types.

    Args:
        cls: a dataclass type (frozen by convention).
        data: the parsed TOML table.
        where: dotted prefix used in error messages (``"train"`` gives ``train.lr``).
    """
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls!r} is not a dataclass")
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where or 'config'}: expected a table, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        keys = ", ".join(_join(where, k) for k in unknown)
        raise ConfigError(f"unknown config key(s) {keys}; valid keys here: {', '.join(sorted(fields))}")
    kwargs = {}
    for name, field in fields.items():
        key = _join(where, name)
        if name in data:
            kwargs[name] = _coerce(hints[name], data[name], key)
        elif field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
            raise ConfigError(f"missing required config key {key}")
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        if isinstance(exc, ConfigError):
            raise
        raise ConfigError(f"{where or cls.__name__}: {exc}") from None


def named_entry(registry: Mapping[str, Any], table: Mapping[str, Any], section: str, kind: str) -> tuple[Any, Any]:
    """Resolve a ``[section]`` table whose ``name`` key picks a registry entry with a ``config`` dataclass.

    Returns ``(entry, config)`` with the config built from the table's other keys; a missing name, an
    unknown name (listing the valid ones) or a bad key is a :class:`ConfigError` naming ``section.key``.
    """
    table = dict(table)
    name = table.pop("name", None)
    if not isinstance(name, str):
        raise ConfigError(f"missing required config key {section}.name (a string)")
    entry = registry.get(name)
    if entry is None:
        raise unknown_name(kind, name, registry)
    return entry, from_mapping(entry.config, table, section)


def resolve_named(spec: Any, base: type[T], registry: Mapping[str, type[T]], kind: str) -> T:
    """An instance of ``base`` given as one, as a registry name (case-insensitive) or as a table
    ``{"name": ..., **constructor arguments}``; anything else, an unknown name or bad arguments is a
    :class:`ConfigError` naming ``kind``."""
    if isinstance(spec, base):
        return spec
    if isinstance(spec, str):
        name, kwargs = spec, {}
    elif isinstance(spec, Mapping):
        kwargs = dict(spec)
        name = kwargs.pop("name", None)
        if not isinstance(name, str):
            raise ConfigError(f"{kind} table needs a string 'name' key, got {spec!r}")
    else:
        raise ConfigError(f"{kind} must be a {base.__name__}, a name or a table, got {spec!r}")
    cls = registry.get(name.lower())
    if cls is None:
        raise unknown_name(kind, name, registry)
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise ConfigError(f"{kind} {name!r}: {exc}") from None


def to_dict(obj: Any) -> Any:
    """Turn a config dataclass (possibly nested) into plain TOML/JSON-friendly data."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, tuple | list):
        return [to_dict(v) for v in obj]
    if isinstance(obj, Mapping):
        return {k: to_dict(v) for k, v in obj.items()}
    if isinstance(obj, Path):
        return str(obj)
    return obj


def _join(where: str, name: str) -> str:
    return f"{where}.{name}" if where else name


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _coerce(tp: Any, value: Any, key: str) -> Any:
    origin = get_origin(tp)
    if tp is Any:
        return value
    if origin is Union or origin is types.UnionType:
        args = get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(arg, value, key)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(f"config key {key}: expected {_type_name(tp)}, got {value!r}")
    if origin is Literal:
        allowed = get_args(tp)
        if value not in allowed:
            raise ConfigError(f"config key {key}: expected one of {list(allowed)}, got {value!r}")
        return value
    if dataclasses.is_dataclass(tp):
        return from_mapping(tp, value, key)
    if origin in (tuple, list):
        if not isinstance(value, list | tuple):
            raise ConfigError(f"config key {key}: expected a list, got {value!r}")
        args = get_args(tp)
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(args) != len(value):
                raise ConfigError(f"config key {key}: expected {len(args)} items, got {len(value)}")
            items = [_coerce(a, v, f"{key}[{i}]") for i, (a, v) in enumerate(zip(args, value, strict=True))]
        else:
            item_tp = args[0] if args else Any
            items = [_coerce(item_tp, v, f"{key}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin in (dict, Mapping) or tp is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"config key {key}: expected a table, got {value!r}")
        args = get_args(tp)
        val_tp = args[1] if len(args) == 2 else Any
        return {str(k): _coerce(val_tp, v, f"{key}.{k}") for k, v in value.items()}
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"config key {key}: expected true/false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"config key {key}: expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"config key {key}: expected a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"config key {key}: expected a string, got {value!r}")
        return value
    if tp is Path:
        if not isinstance(value, str):
            raise ConfigError(f"config key {key}: expected a path string, got {value!r}")
        return Path(value)
    if isinstance(tp, type) and isinstance(value, tp):
        return value
    raise ConfigError(f"config key {key}: expected {_type_name(tp)}, got {value!r}")
