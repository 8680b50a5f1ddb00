"""HDF5 frame cache: every sample of a split, framed once, keyed by the transform's parameters.

One file per (dataset, split, parameters). Layout:

* ``frames``: ``(sum_i T_i, *step_shape)`` — the samples' frames concatenated along time (chunked, LZF
  compressed, Fletcher-32 checksummed so a corrupt chunk fails to read instead of returning garbage);
* ``offsets``: ``(N + 1,)`` int64, sample ``i`` is ``frames[offsets[i]:offsets[i + 1]]``;
* ``labels``: ``(N,)`` int64;
* attributes ``format``, ``key`` (JSON of the parameters), ``fingerprint`` (of the source files), ``complete``.

The file is written to a temporary name beside the target and renamed into place (atomic on POSIX), so a
reader never sees a half-written cache. :func:`load_or_build` validates an existing file against the
expected key, source fingerprint, labels and shapes, and rebuilds it when anything is stale or corrupt.

Example:
    >>> import numpy as np, tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "demo.h5"
    >>> make = lambda i: np.full((2, 1, 2, 2), i, dtype=np.uint8)
    >>> c = load_or_build(path, {"v": 1}, "fp", np.array([0, 1]), make, (1, 2, 2), np.uint8)
    >>> c.sample(1)[0, 0].tolist(), c.built
    ([[1, 1], [1, 1]], True)
    >>> load_or_build(path, {"v": 1}, "fp", np.array([0, 1]), make, (1, 2, 2), np.uint8).built
    False
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from neuro.errors import DataFormatError

FORMAT = "neuro-frame-cache/1"
#: Caches up to this many bytes are read into memory on open (and fully checksum-verified).
PRELOAD_BYTES = 1 << 30
_BLOCK = 256
#: Integer cache dtypes widen along this chain when a sample's values do not fit.
_WIDER = {np.dtype(np.uint8): np.dtype(np.uint16), np.dtype(np.uint16): np.dtype(np.int32)}

log = logging.getLogger("neuro.data")

__all__ = ["FrameCache", "cache_file_name", "load_or_build"]


def cache_file_name(prefix: str, key: Mapping[str, Any]) -> str:
    """``<prefix>-<16 hex digits of the key's hash>.h5``."""
    digest = hashlib.sha256(_key_json(key).encode()).hexdigest()[:16]
    return f"{prefix}-{digest}.h5"


def _key_json(key: Mapping[str, Any]) -> str:
    return json.dumps(key, sort_keys=True, default=str)


class FrameCache:
    """Frames of one split, in memory (``preloaded``) or read per sample from the HDF5 file."""

    def __init__(self, path: Path, offsets: np.ndarray, labels: np.ndarray, frames: np.ndarray | None,
                 built: bool) -> None:
        self.path = path
        self.offsets = offsets
        self.labels = labels
        self._frames = frames
        self.built = built
        self._handle: tuple[int, h5py.File] | None = None

    @property
    def preloaded(self) -> bool:
        return self._frames is not None

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def sample(self, i: int) -> np.ndarray:
        lo, hi = int(self.offsets[i]), int(self.offsets[i + 1])
        if self._frames is not None:
            return self._frames[lo:hi]
        if self._handle is None or self._handle[0] != os.getpid():  # h5py handles do not survive fork
            self._handle = (os.getpid(), h5py.File(self.path, "r"))
        try:
            return self._handle[1]["frames"][lo:hi]
        except OSError as exc:
            raise DataFormatError(f"{self.path}: frame cache is corrupt at sample {i} ({exc}); delete the file to "
                                  "rebuild it") from None

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_handle"] = None
        return state


def _fits(stored: np.dtype, wanted: np.dtype) -> bool:
    """A cache of ``stored`` dtype serves ``wanted`` (integer caches may have been widened on overflow)."""
    while stored != wanted and wanted in _WIDER:
        wanted = _WIDER[wanted]
    return stored == wanted


def _validate(f: h5py.File, key_json: str, fingerprint: str, labels: np.ndarray, step_shape: tuple[int, ...],
              dtype: np.dtype) -> str | None:
    """Reason the open cache cannot be used, or None."""
    if f.attrs.get("format") != FORMAT:
        return f"format {f.attrs.get('format')!r} != {FORMAT!r}"
    if not bool(f.attrs.get("complete", False)):
        return "incomplete"
    if f.attrs.get("key") != key_json:
        return "built with other parameters"
    if f.attrs.get("fingerprint") != fingerprint:
        return "source files changed"
    for name in ("frames", "offsets", "labels"):
        if name not in f:
            return f"missing dataset {name!r}"
    frames, offsets = f["frames"], f["offsets"][...]
    if tuple(frames.shape[1:]) != tuple(step_shape) or not _fits(frames.dtype, dtype):
        return f"frames {frames.shape[1:]}/{frames.dtype} != {tuple(step_shape)}/{dtype}"
    if offsets.shape != (labels.shape[0] + 1,) or offsets[0] != 0 or offsets[-1] != frames.shape[0] \
            or (np.diff(offsets) < 0).any():
        return "offsets inconsistent with frames"
    if not np.array_equal(f["labels"][...], labels):
        return "labels differ from the source"
    return None


class _Overflow(Exception):
    pass


def _write(tmp: Path, key_json: str, fingerprint: str, labels: np.ndarray, make: Callable[[int], np.ndarray],
           step_shape: tuple[int, ...], dtype: np.dtype) -> None:
    n = labels.shape[0]
    step_bytes = max(1, int(np.prod(step_shape)) * dtype.itemsize)
    chunk_t = max(1, min(4096, (256 << 10) // step_bytes))
    info = np.iinfo(dtype) if dtype.kind in "ui" else None
    with h5py.File(tmp, "w") as f:
        ds = f.create_dataset("frames", shape=(0, *step_shape), maxshape=(None, *step_shape), dtype=dtype,
                              chunks=(chunk_t, *step_shape), compression="gzip", compression_opts=1,
                              fletcher32=True)
        offsets = np.zeros(n + 1, dtype=np.int64)
        for start in range(0, n, _BLOCK):
            block = [np.asarray(make(i)) for i in range(start, min(n, start + _BLOCK))]
            for j, arr in enumerate(block):
                if tuple(arr.shape[1:]) != tuple(step_shape):
                    raise DataFormatError(f"sample {start + j}: frame shape {arr.shape[1:]} != {step_shape}")
                offsets[start + j + 1] = offsets[start + j] + arr.shape[0]
            data = np.concatenate(block) if block else np.zeros((0, *step_shape))
            if info is not None and data.size and (data.max() > info.max or data.min() < info.min):
                raise _Overflow
            lo, hi = int(offsets[start]), int(offsets[min(n, start + _BLOCK)])
            ds.resize(hi, axis=0)
            ds[lo:hi] = data.astype(dtype, copy=False)
        f.create_dataset("offsets", data=offsets)
        f.create_dataset("labels", data=labels.astype(np.int64))
        f.attrs["format"] = FORMAT
        f.attrs["key"] = key_json
        f.attrs["fingerprint"] = fingerprint
        f.attrs["complete"] = True


def _build(path: Path, key_json: str, fingerprint: str, labels: np.ndarray, make: Callable[[int], np.ndarray],
           step_shape: tuple[int, ...], dtype: np.dtype) -> None:
    """Write the cache to a temporary file and rename it into place; integer dtypes widen on overflow."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    try:
        while True:
            try:
                _write(tmp, key_json, fingerprint, labels, make, step_shape, dtype)
                break
            except _Overflow:
                if dtype not in _WIDER:
                    raise DataFormatError(f"{path}: sample values do not fit {dtype}; use data.cache = false") from None
                dtype = _WIDER[dtype]
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _open(path: Path, key_json: str, fingerprint: str, labels: np.ndarray, step_shape: tuple[int, ...],
          dtype: np.dtype, preload_bytes: int) -> FrameCache | str:
    """The cache, or the reason it cannot be used."""
    if not path.exists():
        return "missing"
    try:
        with h5py.File(path, "r") as f:
            reason = _validate(f, key_json, fingerprint, labels, step_shape, dtype)
            if reason is not None:
                return reason
            offsets = f["offsets"][...]
            nbytes = int(offsets[-1]) * int(np.prod(step_shape)) * f["frames"].dtype.itemsize
            frames = f["frames"][...] if nbytes <= preload_bytes else None  # reading verifies every checksum
            return FrameCache(path, offsets, labels, frames, built=False)
    except (OSError, KeyError, ValueError, RuntimeError) as exc:
        return f"unreadable ({exc})"


def load_or_build(path: str | Path, key: Mapping[str, Any], fingerprint: str, labels: np.ndarray,
                  make: Callable[[int], np.ndarray], step_shape: tuple[int, ...], dtype: np.dtype | type,
                  preload_bytes: int = PRELOAD_BYTES) -> FrameCache:
    """Open the cache at ``path`` if it is valid for ``key``/``fingerprint``/``labels``, else (re)build it.

    Args:
        make: ``make(i) -> (T_i, *step_shape)`` frames of sample ``i`` (called only when building).
        preload_bytes: read the frames into memory when they take at most this many bytes (a larger cache
            is read per sample, and a corrupt chunk then raises :class:`DataFormatError` naming the file).
    """
    path, dtype, labels = Path(path), np.dtype(dtype), np.asarray(labels, dtype=np.int64)
    key_json, step_shape = _key_json(key), tuple(step_shape)
    found = _open(path, key_json, fingerprint, labels, step_shape, dtype, preload_bytes)
    if isinstance(found, FrameCache):
        return found
    if found != "missing":
        log.warning("rebuilding frame cache %s: %s", path, found)
    log.info("building frame cache %s (%d samples)", path, labels.shape[0])
    _build(path, key_json, fingerprint, labels, make, step_shape, dtype)
    found = _open(path, key_json, fingerprint, labels, step_shape, dtype, preload_bytes)
    if not isinstance(found, FrameCache):
        raise DataFormatError(f"{path}: frame cache just built does not validate: {found}")
    found.built = True
    return found
