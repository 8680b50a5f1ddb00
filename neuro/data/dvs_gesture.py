"""DVS128 Gesture (Amir et al. 2017): 128×128 DVS recordings of 11 hand and arm gestures.

Layouts read from ``root``:

* tonic's preprocessed release (figshare; what ``neuro data fetch dvs_gesture`` downloads):
  ``ibmGestureTrain/<user>_<lighting>/<class>.npy`` and ``ibmGestureTest/...``, each an ``(N, 4)`` array of
  ``x, y, p, t`` with ``t`` in milliseconds (converted to µs here, as tonic does); the ``.tar.gz`` archives
  themselves are unpacked once if only they are present;
* SLAYER's list layout: ``root/<id>.bs2`` (N-MNIST 5-byte records, 128×128) with ``train_list`` /
  ``test_list`` files of ``<id> <class>`` lines, classes 0..10 in :data:`CLASSES` order.

Example:
    >>> DVSGestureConfig(root="x", n_time_bins=20).frame_spec().output_shape(SENSOR)
    (2, 128, 128)
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np

from neuro.data.archives import data_root, locate_folder, resolve_path
from neuro.data.base import EventFileSource, FrameDataset, list_samples
from neuro.data.binary import read_atis
from neuro.data.events import check_events, make_events
from neuro.data.options import FrameOptions
from neuro.errors import ConfigError, DataFormatError

SENSOR = (128, 128, 2)
CLASSES = ("hand_clapping", "right_hand_wave", "left_hand_wave", "right_arm_clockwise",
           "right_arm_counter_clockwise", "left_arm_clockwise", "left_arm_counter_clockwise", "arm_roll",
           "air_drums", "air_guitar", "other_gestures")
SPLIT_DIRS = {"train": "ibmGestureTrain", "test": "ibmGestureTest"}

__all__ = ["CLASSES", "DVSGestureConfig", "build_dvs_gesture", "read_gesture_npy"]


@dataclass(frozen=True)
class DVSGestureConfig(FrameOptions):
    root: str = ""
    train_list: str = ""
    test_list: str = ""


def read_gesture_npy(path: str | Path) -> np.ndarray:
    """Events of one tonic-release ``.npy`` clip (columns x, y, p, t[ms]); sorted by time."""
    try:
        with open(path, "rb") as fh:
            arr = np.load(fh, allow_pickle=False)
            if isinstance(arr, np.lib.npyio.NpzFile):
                arr.close()
                raise DataFormatError(f"{path}: expected a .npy array, found an .npz archive")
    except FileNotFoundError:
        raise DataFormatError(f"{path}: event file not found") from None
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise DataFormatError(f"{path}: not a readable .npy array ({exc})") from None
    if not isinstance(arr, np.ndarray) or arr.ndim != 2 or arr.shape[1] != 4 or arr.dtype.kind not in "uif":
        raise DataFormatError(f"{path}: expected a numeric (N, 4) array of x, y, p, t; got "
                              f"{getattr(arr, 'shape', None)} {getattr(arr, 'dtype', None)}")
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        raise DataFormatError(f"{path}: non-finite values")
    t = np.round(arr[:, 3].astype(np.float64) * 1000).astype(np.int64)
    ev = make_events(x=arr[:, 0].astype(np.int64), y=arr[:, 1].astype(np.int64), t=t, p=arr[:, 2].astype(np.int64))
    ev = ev[np.argsort(ev["t"], kind="stable")]
    return check_events(ev, SENSOR, str(path))


def _npy_samples(folder: Path) -> tuple[list[Path], list[int]]:
    files, labels = [], []
    for rec in sorted(p for p in folder.iterdir() if p.is_dir()):
        for f in sorted(rec.glob("*.npy"), key=lambda p: (len(p.stem), p.stem)):
            if not f.stem.isdigit() or int(f.stem) >= len(CLASSES):
                raise DataFormatError(f"{f}: file name must be the class number 0..{len(CLASSES) - 1}")
            files.append(f)
            labels.append(int(f.stem))
    if not files:
        raise DataFormatError(f"{folder}: no <recording>/<class>.npy files")
    return files, labels


def build_dvs_gesture(cfg: DVSGestureConfig, split: str) -> FrameDataset:
    if split not in SPLIT_DIRS:
        raise ConfigError(f"DVS Gesture split must be one of {sorted(SPLIT_DIRS)}, got {split!r}")
    root = resolve_path(cfg.root, data_root() / "dvs_gesture")
    list_name = cfg.train_list if split == "train" else cfg.test_list
    if list_name:
        files, labels = list_samples(root, root / list_name, len(CLASSES), (".bs2", ".bin"))
        reader = partial(read_atis, sensor_size=SENSOR)
    else:
        wanted = SPLIT_DIRS[split]
        holder = locate_folder(root, wanted, cfg.extract_dir(), prefer=(f"{wanted}.tar.gz",),
                               hint="run `neuro data fetch dvs_gesture`, or set data.train_list / data.test_list "
                                    "for a folder of .bs2 clips")
        files, labels = _npy_samples(holder / wanted)
        reader = read_gesture_npy
    source = EventFileSource(f"dvs_gesture-{split}", files, labels, len(CLASSES), SENSOR, reader, cfg,
                             extra_key={"root": str(root), "list": list_name, "n": len(files)})
    return FrameDataset(source, cfg.frames_dir())
