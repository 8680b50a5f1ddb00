"""Static images -> events: the omnidirectional discrete-gradient (ODG) conversion of ES-ImageNet.

Procedure (the authors' ``dataset_generator/traconvert.py``): take the maximum over colour channels of the
image (values in [0, 1]), pad it by 4 and place it at 9 successive offsets along the trace
``dr = (1, 0, 2, 1, 0, 2, 1, 1, 2)`` (rows), ``dc = (0, 2, 1, 0, 1, 2, 0, 1, 1)`` (columns); for t = 1..8 emit
ON where ``placed_t - placed_{t-1} > threshold`` and OFF where it is ``< -threshold``, after zeroing the rows
and columns uncovered or covered by the shift (the image's moving edges). ES-ImageNet first resizes the
image (nearest) to a long side of 254, keeps events with ``16 < row, col < 240`` and drops images with fewer
than 1000 events; :func:`odg_convert` reproduces that exactly and returns the ``pos`` / ``neg`` arrays an
ES-ImageNet ``.npz`` holds. :func:`odg_frames` is the plain conversion for any image size.

The ``odg_images`` dataset applies it to an image folder ``root/<split>/<class>/<image>`` (``split`` =
``train`` / ``test``, ``val`` accepted for test); classes are the sorted folder names.

Example:
    >>> import numpy as np
    >>> img = np.zeros((6, 6)); img[2:4, 2:4] = 1.0
    >>> on, off = odg_frames(img)
    >>> on.shape, int(on.sum()), int(off.sum())
    ((8, 10, 10), 26, 26)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from neuro.data.archives import data_root, resolve_path
from neuro.data.base import FrameDataset, files_fingerprint
from neuro.data.es_imagenet import LONG_SIDE, es_imagenet_frames
from neuro.data.images import image_files, load_image, resize_nearest
from neuro.data.options import WorkDirs
from neuro.errors import ConfigError, DataFormatError, ShapeError

TRACE_ROWS = (1, 0, 2, 1, 0, 2, 1, 1, 2)
TRACE_COLS = (0, 2, 1, 0, 1, 2, 0, 1, 1)
PAD = 4
ES_WINDOW = (16, 240)  # events kept where 16 < row, col < 240
ES_MIN_EVENTS = 1000

__all__ = ["ODGConfig", "build_odg_images", "odg_convert", "odg_frames"]


def _gray(image: np.ndarray) -> np.ndarray:
    img = np.asarray(image)
    if img.dtype == np.uint8:
        img = img / 255.0
    if img.ndim == 3:
        img = img.max(axis=2)
    if img.ndim != 2:
        raise ShapeError(f"ODG expects an (H, W) or (H, W, C) image, got shape {np.shape(image)}")
    return img.astype(np.float64)


def odg_frames(image: np.ndarray, threshold: float = 0.18) -> tuple[np.ndarray, np.ndarray]:
    """ON and OFF maps, bool ``(8, H + 4, W + 4)``, of an ``(H, W[, C])`` image (uint8 or floats in [0, 1])."""
    img = _gray(image)
    h, w = img.shape
    placed = np.zeros((len(TRACE_ROWS), h + PAD, w + PAD))
    for k, (r, c) in enumerate(zip(TRACE_ROWS, TRACE_COLS, strict=True)):  # 9 positions, not a per-event loop
        placed[k, r:r + h, c:c + w] = img
    diff = placed[1:] - placed[:-1]
    on, off = diff > threshold, diff < -threshold
    for t in range(1, len(TRACE_ROWS)):
        r, c, r0, c0 = TRACE_ROWS[t], TRACE_COLS[t], TRACE_ROWS[t - 1], TRACE_COLS[t - 1]
        for m in (on[t - 1], off[t - 1]):
            m[r:r0, :] = m[r0:r, :] = False
            m[r + h:r0 + h, :] = m[r0 + h:r + h, :] = False
            m[:, c:c0] = m[:, c0:c] = False
            m[:, c + w:c0 + w] = m[:, c0 + w:c + w] = False
    return on, off


def odg_convert(image: np.ndarray, threshold: float = 0.18) -> tuple[np.ndarray, np.ndarray, int, int]:
    """ES-ImageNet's conversion of one image: ``(pos, neg, a, b)`` as stored in its ``.npz`` and label line.

    ``pos`` / ``neg`` are uint8 ``[N, 3]`` rows of (row, column, t = 1..8); ``a``, ``b`` the resized height and
    width. The caller drops the sample when ``len(pos) + len(neg) < 1000``, as the authors did.
    """
    img = _gray(image)
    a, b = img.shape
    if a > b:
        a, b = LONG_SIDE, int(b * LONG_SIDE / a)
    else:
        a, b = int(a * LONG_SIDE / b), LONG_SIDE
    img = resize_nearest(img, (a, b))
    out = []
    for maps in odg_frames(img, threshold):
        t, r, c = np.nonzero(maps)
        keep = (r > ES_WINDOW[0]) & (r < ES_WINDOW[1]) & (c > ES_WINDOW[0]) & (c < ES_WINDOW[1])
        out.append(np.stack([r[keep], c[keep], t[keep] + 1], axis=1).astype(np.uint8))
    return out[0], out[1], a, b


@dataclass(frozen=True)
class ODGConfig(WorkDirs):
    root: str = ""
    threshold: float = 0.18
    size: tuple[int, ...] = ()
    es_imagenet: bool = False

    def __post_init__(self) -> None:
        if self.size and (len(self.size) != 2 or min(self.size) < 1):
            raise ConfigError(f"data.size must be [height, width], got {list(self.size)}")
        if self.threshold <= 0:
            raise ConfigError("data.threshold must be > 0")


class ODGSource:
    def __init__(self, cfg: ODGConfig, split: str, root: Path) -> None:
        folder = root / split
        if split == "test" and not folder.is_dir() and (root / "val").is_dir():
            folder = root / "val"
        if not folder.is_dir():
            raise DataFormatError(f"{folder}: image split folder not found (expected {root}/<split>/<class>/<image>)")
        self.classes = sorted(d.name for d in folder.iterdir() if d.is_dir())
        self.files, labels = [], []
        for k, name in enumerate(self.classes):
            found = image_files(folder / name)
            self.files += found
            labels += [k] * len(found)
        if not self.files:
            raise DataFormatError(f"{folder}: no images under <class>/ folders")
        self.cfg, self.name, self.folder = cfg, f"odg_images-{split}", folder
        self.labels = np.asarray(labels, dtype=np.int64)
        self.num_classes = len(self.classes)
        self.storage_dtype = np.dtype(np.uint8)
        if cfg.es_imagenet:
            self.input_shape = (2, ES_WINDOW[1] - ES_WINDOW[0], ES_WINDOW[1] - ES_WINDOW[0])
        else:
            h, w = cfg.size if cfg.size else load_image(self.files[0]).shape[:2]
            self.input_shape = (2, h + PAD, w + PAD)

    def __len__(self) -> int:
        return len(self.files)

    def item(self, i: int) -> np.ndarray:
        img = load_image(self.files[i])
        if self.cfg.es_imagenet:
            pos, neg, a, b = odg_convert(img, self.cfg.threshold)
            return es_imagenet_frames(pos, neg, a, b, str(self.files[i])).transpose(1, 0, 2, 3)
        if self.cfg.size:
            img = resize_nearest(img / 255.0, (self.cfg.size[0], self.cfg.size[1]))
        on, off = odg_frames(img, self.cfg.threshold)
        if (2, *on.shape[1:]) != self.input_shape:
            raise DataFormatError(f"{self.files[i]}: image size {on.shape[1] - PAD}x{on.shape[2] - PAD} differs from "
                                  f"the first image's; set data.size = [height, width]")
        return np.stack([on, off], axis=1).astype(np.uint8)

    def cache_key(self) -> dict[str, Any]:
        c = self.cfg
        return {"dataset": self.name, "root": str(self.folder), "threshold": c.threshold, "size": list(c.size),
                "es_imagenet": c.es_imagenet, "n": len(self)}

    def fingerprint(self) -> str:
        return files_fingerprint(self.files)


def build_odg_images(cfg: ODGConfig, split: str) -> FrameDataset:
    if split not in ("train", "test", "val"):
        raise ConfigError(f"odg_images split must be 'train' or 'test', got {split!r}")
    root = resolve_path(cfg.root, data_root() / "images")
    return FrameDataset(ODGSource(cfg, split, root), cfg.frames_dir())
