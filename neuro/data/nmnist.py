"""N-MNIST (Orchard et al. 2015): 34×34 ATIS recordings of MNIST digits, three saccades of ~105 ms.

Layouts read from ``root``:

* the original one, ``Train/<digit>/<id>.bin`` and ``Test/<digit>/<id>.bin`` (label = folder);
* an archive in ``root`` holding that layout (the official ``train.zip`` / ``test.zip``, or the small subset
  this repository ships in ``datasets/nmnist_small``): unpacked once, safely, into
  ``<cache_dir>/extracted/<archive>-<id>/`` and read from there;
* SLAYER's list layout: ``root/<id>.bs2`` (or ``.bin``) with ``train_list`` / ``test_list`` files of
  ``<id> <class>`` lines (paths relative to ``root``).

Every file goes through :func:`neuro.data.binary.read_atis` (overflow markers, errors with byte offsets).
Event options: ``first_saccade_only`` keeps ``t < 100 ms``; ``stabilize`` removes the saccade ego-motion
(piecewise linear over 105 ms segments, offsets x + 4, y + 2; same values as tonic's ``stabilize``).

Example (a ``[data]`` table):
    >>> cfg = NMNISTConfig(root="datasets/nmnist_small", n_time_bins=10)
    >>> cfg.frame_spec().output_shape(SENSOR)
    (2, 34, 34)
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np

from neuro.data.archives import data_root, locate_folder, resolve_path
from neuro.data.base import EventFileSource, FrameDataset, list_samples
from neuro.data.binary import read_atis
from neuro.data.options import FrameOptions
from neuro.errors import ConfigError, DataFormatError

SENSOR = (34, 34, 2)
SPLIT_DIRS = {"train": "Train", "test": "Test"}
OFFICIAL_ARCHIVES = {"train": ("train.zip", "Train.zip"), "test": ("test.zip", "Test.zip")}

__all__ = ["NMNISTConfig", "build_nmnist", "find_split_folder", "first_saccade", "stabilize"]


@dataclass(frozen=True)
class NMNISTConfig(FrameOptions):
    root: str = ""
    train_list: str = ""
    test_list: str = ""
    first_saccade_only: bool = False
    stabilize: bool = False


def first_saccade(events: np.ndarray) -> np.ndarray:
    """Events of the first saccade (``t < 1e5`` µs)."""
    return events[events["t"] < 100_000]


def stabilize(events: np.ndarray, sensor_size: tuple[int, int, int] = SENSOR) -> np.ndarray:
    """Remove the three saccades' motion; events moved outside the sensor are dropped.

    Saccade 1 (t <= 105 ms): x - 3.5 t/105, y - 7 t/105; saccade 2 (<= 210 ms): x - 3.5 - 3.5 (t-105)/105,
    y - 7 + 7 (t-105)/105; saccade 3: x - 7 + 7 (t-210)/105, y unchanged; then x + 4, y + 2, rounded.
    """
    t = events["t"].astype(np.float64)
    x = events["x"].astype(np.float64)
    y = events["y"].astype(np.float64)
    s1, s3 = t <= 105e3, t > 210e3
    s2 = ~s1 & ~s3
    sx, sy = np.empty_like(x), np.empty_like(y)
    # same operation order as Orchard's / tonic's code, so the rounding agrees bit for bit
    sx[s1] = 4 + x[s1] - 3.5 * t[s1] / 105e3
    sy[s1] = 2 + y[s1] - 7 * t[s1] / 105e3
    sx[s2] = 4 + x[s2] - 3.5 - 3.5 * (t[s2] - 105e3) / 105e3
    sy[s2] = 2 + y[s2] - 7 + 7 * (t[s2] - 105e3) / 105e3
    sx[s3] = 4 + x[s3] - 7 + 7 * (t[s3] - 210e3) / 105e3
    sy[s3] = 2 + y[s3]
    keep = (sx >= 0) & (sy >= 0) & (sx <= sensor_size[0] - 1) & (sy <= sensor_size[1] - 1)
    out = events[keep].copy()
    out["x"] = np.round(sx[keep])
    out["y"] = np.round(sy[keep])
    return out


def find_split_folder(root: Path, split: str, extract_dir: Path) -> Path:
    """The folder holding ``Train/`` or ``Test/``: ``root`` itself, or an archive in it unpacked once."""
    return locate_folder(root, SPLIT_DIRS[split], extract_dir, prefer=OFFICIAL_ARCHIVES[split],
                         skip=OFFICIAL_ARCHIVES["train"] + OFFICIAL_ARCHIVES["test"],
                         hint=f"get {OFFICIAL_ARCHIVES[split][0]} with `neuro data fetch nmnist`, or set data.root "
                              "to the folder holding Train/ and Test/")


def _sort_key(p: Path) -> tuple[int, str]:
    return (int(p.stem), p.name) if p.stem.isdigit() else (1 << 62, p.name)


def _folder_samples(folder: Path) -> tuple[list[Path], list[int]]:
    files, labels = [], []
    digits = sorted(d for d in folder.iterdir() if d.is_dir() and d.name.isdigit())
    if not digits:
        raise DataFormatError(f"{folder}: no digit folders 0..9")
    for d in digits:
        label = int(d.name)
        if label > 9:
            raise DataFormatError(f"{d}: folder name is not a digit 0..9")
        found = sorted((p for p in d.iterdir() if p.suffix == ".bin"), key=_sort_key)
        files += found
        labels += [label] * len(found)
    if not files:
        raise DataFormatError(f"{folder}: no .bin files under the digit folders")
    return files, labels


def build_nmnist(cfg: NMNISTConfig, split: str) -> FrameDataset:
    if split not in SPLIT_DIRS:
        raise ConfigError(f"N-MNIST split must be one of {sorted(SPLIT_DIRS)}, got {split!r}")
    root = resolve_path(cfg.root, data_root() / "nmnist")
    list_name = cfg.train_list if split == "train" else cfg.test_list
    if list_name:
        files, labels = list_samples(root, root / list_name, 10, (".bs2", ".bin"))
    else:
        files, labels = _folder_samples(find_split_folder(root, split, cfg.extract_dir()) / SPLIT_DIRS[split])
    transforms = ((first_saccade,) if cfg.first_saccade_only else ()) + ((stabilize,) if cfg.stabilize else ())
    source = EventFileSource(f"nmnist-{split}", files, labels, 10, SENSOR, partial(read_atis, sensor_size=SENSOR),
                             cfg, transforms, {"root": str(root), "list": list_name, "n": len(files),
                                               "first_saccade_only": cfg.first_saccade_only,
                                               "stabilize": cfg.stabilize})
    return FrameDataset(source, cfg.frames_dir())
