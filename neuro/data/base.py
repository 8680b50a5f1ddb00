"""The dataset every loader returns: a sample source, framed on the fly or through the HDF5 cache.

A *source* knows the samples of one split: their labels, how to turn sample ``i`` into a ``(T, *input_shape)``
array, a JSON-able ``cache_key`` (everything the output depends on) and a ``fingerprint`` of its files.
:class:`FrameDataset` wraps it as a ``torch.utils.data.Dataset`` yielding ``(x, label)``: ``x`` float32
``(T, *input_shape)``, ``label`` an int; it exposes ``num_classes``, ``input_shape`` and ``labels``.

Example:
    >>> import numpy as np
    >>> class Toy:
    ...     labels = np.array([0, 1]); num_classes = 2; input_shape = (3,); storage_dtype = np.dtype(np.uint8)
    ...     name = "toy"
    ...     def __len__(self): return 2
    ...     def item(self, i): return np.full((4, 3), i, dtype=np.uint8)
    ...     def cache_key(self): return {"toy": 1}
    ...     def fingerprint(self): return "fixed"
    >>> x, y = FrameDataset(Toy())[1]
    >>> tuple(x.shape), x.dtype, y
    ((4, 3), torch.float32, 1)
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torch.utils.data import Dataset

from neuro.data.cache import PRELOAD_BYTES, FrameCache, cache_file_name, load_or_build
from neuro.data.options import FrameOptions
from neuro.errors import DataFormatError

CACHE_VERSION = 1

__all__ = ["EventFileSource", "FrameDataset", "SampleSource", "files_fingerprint", "list_samples", "read_label_list"]


class SampleSource(Protocol):
    name: str
    labels: np.ndarray
    num_classes: int
    input_shape: tuple[int, ...]
    storage_dtype: np.dtype

    def __len__(self) -> int: ...
    def item(self, i: int) -> np.ndarray: ...
    def cache_key(self) -> dict[str, Any]: ...
    def fingerprint(self) -> str: ...


def files_fingerprint(paths: Iterable[Path]) -> str:
    """Hash of the files' names, sizes and modification times (cheap; detects replaced or edited files)."""
    h = hashlib.sha256()
    for p in paths:
        try:
            st = os.stat(p)
        except OSError:
            h.update(f"{p}|missing\n".encode())
            continue
        h.update(f"{p}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def read_label_list(path: Path) -> list[tuple[str, int]]:
    """Parse a ``<sample> <class>`` list (SLAYER's ``train1K.txt``; ``#`` starts a comment line)."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise DataFormatError(f"{path}: label file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DataFormatError(f"{path}: cannot read label file: {exc}") from None
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.replace(",", " ").split()
        if len(parts) < 2:
            raise DataFormatError(f"{path}:{n}: expected '<sample> <class>', got {line!r}")
        try:
            label = int(parts[1])
        except ValueError:
            raise DataFormatError(f"{path}:{n}: class {parts[1]!r} is not an integer") from None
        out.append((parts[0], label))
    if not out:
        raise DataFormatError(f"{path}: label file lists no samples")
    return out


class FrameDataset(Dataset):
    """``(x, label)`` samples of a source, optionally through an HDF5 frame cache in ``cache_dir``."""

    def __init__(self, source: SampleSource, cache_dir: Path | None = None,
                 preload_bytes: int = PRELOAD_BYTES) -> None:
        self.source = source
        self.labels = np.asarray(source.labels, dtype=np.int64)
        self.num_classes = int(source.num_classes)
        self.input_shape = tuple(int(s) for s in source.input_shape)
        self.cache: FrameCache | None = None
        if cache_dir is not None:
            key = {"cache_version": CACHE_VERSION, **source.cache_key()}
            path = Path(cache_dir) / cache_file_name(source.name, key)
            self.cache = load_or_build(path, key, source.fingerprint(), self.labels, source.item,
                                       self.input_shape, source.storage_dtype, preload_bytes)

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        if not -len(self) <= i < len(self):
            raise IndexError(f"index {i} out of range for {len(self)} samples")
        i = i % len(self)
        arr = self.cache.sample(i) if self.cache is not None else self.source.item(i)
        return torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float32)), int(self.labels[i])

    def __repr__(self) -> str:
        cached = f", cache={self.cache.path.name}" if self.cache is not None else ""
        return (f"FrameDataset({self.source.name}, samples={len(self)}, input_shape={self.input_shape}, "
                f"num_classes={self.num_classes}{cached})")


def list_samples(root: Path, list_file: Path, num_classes: int, suffixes: tuple[str, ...]) -> tuple[list[Path],
                                                                                                   list[int]]:
    """Files and labels of a SLAYER list (``<id> <class>`` lines; file ``root/<id><suffix>``)."""
    files, labels = [], []
    for name, label in read_label_list(list_file):
        if not 0 <= label < num_classes:
            raise DataFormatError(f"{list_file}: sample {name!r}: class {label} outside 0..{num_classes - 1}")
        for suffix in ("", *suffixes):
            path = root / f"{name}{suffix}"
            if path.is_file():
                break
        else:
            raise DataFormatError(f"{list_file}: sample {name!r}: no file {root / name}{{{','.join(suffixes)}}}")
        files.append(path)
        labels.append(label)
    return files, labels


class EventFileSource:
    """Samples stored one file per sample, read by ``reader(path) -> events``, framed by a FrameSpec."""

    def __init__(self, name: str, files: list[Path], labels: list[int], num_classes: int, sensor_size: tuple,
                 reader: Callable[[Path], np.ndarray], options: FrameOptions, event_transforms: tuple = (),
                 extra_key: dict | None = None) -> None:
        self.name = name
        self.files = files
        self.labels = np.asarray(labels, dtype=np.int64)
        self.num_classes = num_classes
        self.sensor_size = tuple(sensor_size)
        self.reader = reader
        self.spec = options.frame_spec()
        self.input_shape = self.spec.output_shape(self.sensor_size)
        self.storage_dtype = self.spec.storage_dtype
        self.event_transforms = event_transforms
        self.extra_key = extra_key or {}

    def __len__(self) -> int:
        return len(self.files)

    def events(self, i: int) -> np.ndarray:
        ev = self.reader(self.files[i])
        for fn in self.event_transforms:
            ev = fn(ev)
        return ev

    def item(self, i: int) -> np.ndarray:
        return self.spec.apply(self.events(i), self.sensor_size)

    def cache_key(self) -> dict[str, Any]:
        return {"dataset": self.name, "spec": dataclasses.asdict(self.spec), **self.extra_key}

    def fingerprint(self) -> str:
        return files_fingerprint(self.files)
