"""Break-even input densities of the event-driven layers, measured on this machine.

:class:`~neuro.layers.EventLinear` and :class:`~neuro.layers.EventConv2d` choose between their event-driven path
and oneDNN's dense one by the input's density, against a threshold: the density where the two cost the same. That
break-even depends on the CPU: on a 2-core AMD EPYC the event-driven 2 -> 12 channel 5x5 convolution of W2 paid up
to 50% input density, on a 2-core Intel Xeon VM with AVX-512 (where the peers' dense products ran about twice as
fast: ``experiments/bench_cpu.json`` and ``bench_cpu_intel.json``) only up to 2%. The built-in defaults are the
AMD EPYC's. ``neuro bench --only crossover --save-tuning`` measures the break-evens of a few layer shapes on the
machine at hand and writes them to a tuning file; layers built afterwards without an explicit threshold take the
one measured for the most similar shape (nearest in the logarithms of the sizes), on that machine only. An explicit
``max_density`` always wins.

The file is ``$NEURO_TUNING`` if set (empty: no tuning file), else ``$XDG_CACHE_HOME/neuro/tuning.json``
(``~/.cache/neuro/tuning.json``). It is JSON::

    {"format": 1, "machine": {"cpu": "...", "cores": 2, "torch_threads": 2}, "measured": "2026-11-27T21:10:00Z",
     "event_linear": [{"in_features": 2312, "out_features": 512, "max_density": 0.15,
                       "max_forward_density": 0.15}, ...],
     "event_conv2d": [{"in_channels": 2, "out_channels": 12, "kernel_size": 5, "max_density": 0.02}, ...]}

A file measured on another machine (CPU model, cores or torch threads differ) is ignored with a warning; a
malformed one raises :class:`~neuro.errors.ConfigError` naming the file and the key.

Example:
    >>> import os, tempfile
    >>> from neuro.backends import tuning
    >>> path = os.path.join(tempfile.mkdtemp(), "tuning.json")
    >>> _ = tuning.save({"event_conv2d": [{"in_channels": 2, "out_channels": 12, "kernel_size": 5,
    ...                                    "max_density": 0.02}]}, path)
    >>> tuning.event_conv2d_density(4, 16, path=path)
    0.02
    >>> tuning.event_linear_densities(100, 10, path=path) is None  # nothing measured for linear layers
    True
"""

from __future__ import annotations

import datetime
import functools
import json
import math
import os
import platform
import warnings
from pathlib import Path
from typing import Any

import torch

from neuro.errors import ConfigError

__all__ = ["cpu_model", "default_path", "event_conv2d_density", "event_linear_densities", "load", "machine", "save"]

FORMAT = 1
_FIELDS = {"event_linear": {"in_features": int, "out_features": int, "max_density": float,
                            "max_forward_density": float},
           "event_conv2d": {"in_channels": int, "out_channels": int, "kernel_size": int, "max_density": float}}


def default_path() -> Path | None:
    """The tuning file's path (module docstring), or ``None`` when ``$NEURO_TUNING`` is set empty."""
    env = os.environ.get("NEURO_TUNING")
    if env is not None:
        return Path(env) if env.strip() else None
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(cache) / "neuro" / "tuning.json"


def cpu_model() -> str:
    """The CPU's model name as Linux's ``/proc/cpuinfo`` gives it, else :mod:`platform`'s guess."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> dict[str, Any]:
    """What a tuning file must match: CPU model, logical CPUs, torch threads."""
    return {"cpu": cpu_model(), "cores": os.cpu_count(), "torch_threads": torch.get_num_threads()}


def _validate(data: Any, where: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a JSON object, got {type(data).__name__}")
    if data.get("format") != FORMAT:
        raise ConfigError(f"{where}: key 'format' must be {FORMAT}, got {data.get('format')!r}")
    if not isinstance(data.get("machine"), dict):
        raise ConfigError(f"{where}: key 'machine' must be an object like {machine()!r}")
    known = {"format", "machine", "measured", *_FIELDS}
    if set(data) - known:
        raise ConfigError(f"{where}: unknown keys {sorted(set(data) - known)}; expected some of {sorted(known)}")
    for op, fields in _FIELDS.items():
        entries = data.get(op, [])
        if not isinstance(entries, list):
            raise ConfigError(f"{where}: key {op!r} must be a list of objects")
        for i, entry in enumerate(entries):
            if not isinstance(entry, dict) or set(entry) != set(fields):
                raise ConfigError(f"{where}: {op}[{i}] must have exactly the keys {sorted(fields)}, got {entry!r}")
            for key, kind in fields.items():
                value = entry[key]
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    raise ConfigError(f"{where}: {op}[{i}].{key} must be a number, got {value!r}")
                if kind is int and (int(value) != value or value < 1):
                    raise ConfigError(f"{where}: {op}[{i}].{key} must be a positive integer, got {value!r}")
                if kind is float and not 0.0 <= value <= 1.0:
                    raise ConfigError(f"{where}: {op}[{i}].{key} must be a density in [0, 1], got {value!r}")
    return data


@functools.cache
def _read(path: str, stamp: tuple[int, int]) -> dict[str, Any] | None:
    try:
        data = json.loads(Path(path).read_text())
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: invalid JSON in the tuning file: {exc}") from None
    data = _validate(data, path)
    here = machine()
    if data["machine"] != here:
        warnings.warn(f"{path}: tuning measured on {data['machine']!r}, not this machine {here!r}; ignored "
                      "(rerun `neuro bench --only crossover --save-tuning`)", stacklevel=4)
        return None
    return data


def load(path: str | os.PathLike[str] | None = None) -> dict[str, Any] | None:
    """The tuning file's content when it exists and was measured on this machine, else ``None`` (read once per
    modification of the file)."""
    where = default_path() if path is None else Path(path)
    if where is None:
        return None
    try:
        stat = where.stat()
    except OSError:
        return None
    return _read(str(where), (stat.st_mtime_ns, stat.st_size))


def save(entries: dict[str, list[dict[str, Any]]], path: str | os.PathLike[str] | None = None) -> Path:
    """Write ``entries`` (``{"event_linear": [...], "event_conv2d": [...]}``) with this machine's description to
    the tuning file, atomically; returns its path."""
    where = default_path() if path is None else Path(path)
    if where is None:
        raise ConfigError("NEURO_TUNING is set empty: no tuning file to write; set it to a path")
    data = {"format": FORMAT, "machine": machine(),
            "measured": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), **entries}
    _validate(data, str(where))
    where.parent.mkdir(parents=True, exist_ok=True)
    tmp = where.with_name(where.name + f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=1) + "\n")
    os.replace(tmp, where)
    return where


def _nearest(entries: list[dict[str, Any]], sizes: dict[str, int]) -> dict[str, Any] | None:
    def distance(entry: dict[str, Any]) -> float:
        return sum(abs(math.log(entry[k]) - math.log(max(1, v))) for k, v in sizes.items())

    return min(entries, key=distance) if entries else None


def event_linear_densities(in_features: int, out_features: int, path: str | os.PathLike[str] | None = None
                           ) -> tuple[float, float] | None:
    """``(max_density, max_forward_density)`` measured for the most similar linear layer, or ``None``."""
    data = load(path)
    entry = None if data is None else _nearest(data.get("event_linear", []),
                                               {"in_features": in_features, "out_features": out_features})
    return None if entry is None else (float(entry["max_density"]), float(entry["max_forward_density"]))


def event_conv2d_density(in_channels: int, out_channels: int, path: str | os.PathLike[str] | None = None
                         ) -> float | None:
    """``max_density`` measured for the most similar convolution, or ``None``."""
    data = load(path)
    entry = None if data is None else _nearest(data.get("event_conv2d", []),
                                               {"in_channels": in_channels, "out_channels": out_channels})
    return None if entry is None else float(entry["max_density"])
