"""N-TIDIGITS (Anumula et al. 2018): spoken digits recorded by a 64-channel silicon cochlea.

Layouts read from ``root``:

* the HDF5 release ``n-tidigits.hdf5`` (file name ``data.file``): ``{train,test}_labels`` (byte strings whose
  last ``-`` field is the digit sequence), ``{train,test}_addresses/<label>`` (channels 0..63) and
  ``{train,test}_timestamps/<label>`` (seconds);
* SLAYER's list layout: ``root/<id>.bs1`` with ``train_list`` / ``test_list`` of ``<id> <class>`` lines.

Events are 1-D: channel in ``x``, ``y = 0``, ``p = 0``, ``t`` in µs (seconds × 1e6, rounded), sensor
``(64, 1, 1)``. Only single-digit utterances are classes; ``label_map`` says how the two spoken zeros map,
because the published code bases disagree:

* ``"z0_o10"`` (default; MemristorLSM / ebdataset: ``int(label.replace("z", "0").replace("o", "10"))``):
  'z' -> 0, '1'..'9' -> 1..9, 'o' -> 10;
* ``"o0_z10"`` (tonic's ``NTIDIGITS18.class_map``): 'o' -> 0, '1'..'9' -> 1..9, 'z' -> 10.

Time binning (``x`` is ``(n_time_bins, 64)``):

* ``binning = "chunks"`` (MemristorLSM's ``rec_array_to_spike_train`` with ``Dt`` = ``raster_us`` = 1 ms):
  a raster of ``raster_us`` bins from t = 0 (``ceil(t_max / raster_us) + 1`` of them) is cut by
  ``torch.chunk`` into chunks of ``ceil(len / n_time_bins)`` raster bins (fewer than ``n_time_bins`` chunks
  when it does not divide; the rest stays zero, as its collate pads) and summed per chunk. So an utterance
  of ~1 s gives 129 bins of ~8 ms each, not 129 bins of 1 ms;
* ``binning = "window"``: consecutive windows of ``raster_us`` from t = 0; events after
  ``n_time_bins * raster_us`` are dropped.

``binarize`` (default true) clips counts to 1, as the paper's set-up does (without it, ``x`` holds event
counts per bin).

Example:
    >>> label_to_class("o", "z0_o10"), label_to_class("o", "o0_z10"), label_to_class("7", "z0_o10")
    (10, 0, 7)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Literal

import h5py
import numpy as np

from neuro.data.archives import data_root, resolve_path
from neuro.data.base import FrameDataset, files_fingerprint, list_samples
from neuro.data.binary import read_bs1
from neuro.data.events import make_events
from neuro.data.options import WorkDirs
from neuro.errors import ConfigError, DataFormatError

SENSOR = (64, 1, 1)
LABEL_MAPS = {
    "z0_o10": {"z": 0, **{str(d): d for d in range(1, 10)}, "o": 10},
    "o0_z10": {"o": 0, **{str(d): d for d in range(1, 10)}, "z": 10},
}

__all__ = ["LABEL_MAPS", "NTIDIGITSConfig", "NTidigitsFile", "bin_audio", "build_ntidigits", "label_to_class"]


@dataclass(frozen=True)
class NTIDIGITSConfig(WorkDirs):
    root: str = ""
    file: str = "n-tidigits.hdf5"
    train_list: str = ""
    test_list: str = ""
    single_digits: bool = True
    label_map: Literal["z0_o10", "o0_z10"] = "z0_o10"
    n_time_bins: int = 129
    binning: Literal["chunks", "window"] = "chunks"
    raster_us: int = 1000
    binarize: bool = True

    def __post_init__(self) -> None:
        if not self.single_digits:
            raise ConfigError("data.single_digits = false: digit sequences are not integer classes; read them with "
                              "neuro.data.ntidigits.NTidigitsFile")
        if self.n_time_bins < 1 or self.raster_us < 1:
            raise ConfigError("data.n_time_bins and data.raster_us must be >= 1")


def label_to_class(digit: str, label_map: str) -> int:
    """Class of a one-character digit label under ``label_map`` (see the module doc)."""
    try:
        return LABEL_MAPS[label_map][digit]
    except KeyError:
        raise DataFormatError(f"label {digit!r} is not a single digit (o, z, 1..9) or map {label_map!r} is unknown") \
            from None


def bin_audio(events: np.ndarray, n_time_bins: int, raster_us: int, binning: str = "chunks",
              binarize: bool = True, n_channels: int = SENSOR[0]) -> np.ndarray:
    """1-D events -> ``(n_time_bins, n_channels)`` int64 counts (see the module doc for the two binnings)."""
    size = n_time_bins * n_channels
    if events.shape[0] == 0:
        return np.zeros((n_time_bins, n_channels), dtype=np.int64)
    t = events["t"].astype(np.int64)
    raster = t // raster_us  # index of the raster bin
    if binning == "chunks":
        length = -(-int(t.max()) // raster_us) + 1  # ceil(t_max / raster) + 1, as the reference
        b = raster // -(-length // n_time_bins)  # torch.chunk's chunk size: ceil(length / n_time_bins)
    elif binning == "window":
        b = raster
    else:
        raise ConfigError(f"data.binning must be 'chunks' or 'window', got {binning!r}")
    keep = b < n_time_bins
    out = np.bincount(b[keep] * n_channels + events["x"][keep].astype(np.int64), minlength=size)[:size]
    out = out.reshape(n_time_bins, n_channels)
    return (out > 0).astype(np.int64) if binarize else out


class NTidigitsFile:
    """Read access to ``n-tidigits.hdf5``: labels and events of one split, with checks naming keys."""

    def __init__(self, path: str | Path, split: str) -> None:
        self.path = Path(path)
        self.split = "train" if split == "train" else "test"
        self._handle: tuple[int, h5py.File] | None = None
        f = self._file()
        try:
            for key in (f"{self.split}_labels", f"{self.split}_addresses", f"{self.split}_timestamps"):
                if key not in f:
                    raise DataFormatError(f"{self.path}: missing key {key!r} (found {sorted(f.keys())}); expected "
                                          "the N-TIDIGITS layout {train,test}_{labels,addresses,timestamps}")
            try:
                raw = f[f"{self.split}_labels"][...]
            except (OSError, TypeError, ValueError) as exc:
                raise DataFormatError(f"{self.path}: cannot read {self.split}_labels ({exc})") from None
            self.keys = [k.decode() if isinstance(k, bytes) else str(k) for k in np.ravel(raw)]
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Close the HDF5 handle (it is reopened on the next read)."""
        if self._handle is not None:
            self._handle[1].close()
            self._handle = None

    def _file(self) -> h5py.File:
        if self._handle is None or self._handle[0] != os.getpid():
            try:
                self._handle = (os.getpid(), h5py.File(self.path, "r"))
            except FileNotFoundError:
                raise DataFormatError(f"{self.path}: N-TIDIGITS file not found; run `neuro data fetch ntidigits`") \
                    from None
            except OSError as exc:
                raise DataFormatError(f"{self.path}: not a readable HDF5 file ({exc})") from None
        return self._handle[1]

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_handle": None}

    def digits(self, i: int) -> str:
        """The digit sequence of sample ``i`` (last ``-`` field of its key)."""
        return self.keys[i].split("-")[-1]

    def events(self, i: int) -> np.ndarray:
        key, f = self.keys[i], self._file()
        where = f"{self.path}: sample {key!r}"
        try:
            addr = np.asarray(f[f"{self.split}_addresses"][key][...])
            ts = np.asarray(f[f"{self.split}_timestamps"][key][...])
        except KeyError as exc:
            raise DataFormatError(f"{where}: missing dataset under {self.split}_addresses / {self.split}_timestamps "
                                  f"({exc})") from None
        except (OSError, TypeError, ValueError, AttributeError) as exc:
            raise DataFormatError(f"{where}: unreadable ({exc})") from None
        if addr.ndim != 1 or ts.ndim != 1 or addr.shape != ts.shape:
            raise DataFormatError(f"{where}: addresses {addr.shape} and timestamps {ts.shape} must be equal 1-D")
        if addr.dtype.kind not in "ui" or ts.dtype.kind not in "uif":
            raise DataFormatError(f"{where}: addresses must be integers, timestamps numbers ({addr.dtype}, {ts.dtype})")
        bad = np.flatnonzero((addr < 0) | (addr >= SENSOR[0]))
        if bad.size:
            raise DataFormatError(f"{where}: address[{bad[0]}] = {addr[bad[0]]} outside channels 0..{SENSOR[0] - 1}")
        t = ts.astype(np.float64) * 1e6
        bad = np.flatnonzero(~np.isfinite(t) | (t < 0))
        if bad.size:
            raise DataFormatError(f"{where}: timestamp[{bad[0]}] = {ts[bad[0]]} s is negative or not finite")
        t = np.round(t).astype(np.int64)
        back = np.flatnonzero(np.diff(t) < 0)
        if back.size:
            raise DataFormatError(f"{where}: timestamp[{back[0] + 1}] goes backwards ({t[back[0]]} -> "
                                  f"{t[back[0] + 1]} us)")
        return make_events(x=addr.astype(np.int64), y=0, t=t, p=0)


class AudioSource:
    """Single-digit N-TIDIGITS samples (HDF5 or .bs1 list), binned to ``(T, 64)``."""

    def __init__(self, cfg: NTIDIGITSConfig, split: str, root: Path) -> None:
        self.name = f"ntidigits-{split}"
        self.cfg = cfg
        self.num_classes = 11
        self.input_shape = (SENSOR[0],)
        self.storage_dtype = np.dtype(np.uint8)
        list_name = cfg.train_list if split == "train" else cfg.test_list
        self.h5: NTidigitsFile | None = None
        if list_name:
            self.files, labels = list_samples(root, root / list_name, self.num_classes, (".bs1",))
            self.index = list(range(len(self.files)))
            self._key = {"list": str(root / list_name)}
        else:
            self.h5 = NTidigitsFile(root / cfg.file, split)
            self.files = [root / cfg.file]
            self.index = [i for i in range(len(self.h5.keys)) if len(self.h5.digits(i)) == 1]
            labels = [label_to_class(self.h5.digits(i), cfg.label_map) for i in self.index]
            self._key = {"file": str(root / cfg.file)}
        self.labels = np.asarray(labels, dtype=np.int64)
        self._read = partial(read_bs1, n_channels=SENSOR[0])

    def __len__(self) -> int:
        return len(self.index)

    def events(self, i: int) -> np.ndarray:
        if self.h5 is not None:
            return self.h5.events(self.index[i])
        return self._read(self.files[i])

    def item(self, i: int) -> np.ndarray:
        c = self.cfg
        return bin_audio(self.events(i), c.n_time_bins, c.raster_us, c.binning, c.binarize)

    def cache_key(self) -> dict[str, Any]:
        c = self.cfg
        return {"dataset": self.name, **self._key, "label_map": c.label_map, "n_time_bins": c.n_time_bins,
                "binning": c.binning, "raster_us": c.raster_us, "binarize": c.binarize, "n": len(self)}

    def fingerprint(self) -> str:
        return files_fingerprint(self.files)


def build_ntidigits(cfg: NTIDIGITSConfig, split: str) -> FrameDataset:
    if split not in ("train", "test"):
        raise ConfigError(f"N-TIDIGITS split must be 'train' or 'test', got {split!r}")
    root = resolve_path(cfg.root, data_root() / "ntidigits")
    return FrameDataset(AudioSource(cfg, split, root), cfg.frames_dir())
