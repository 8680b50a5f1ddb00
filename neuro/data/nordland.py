"""Nordland place-recognition images (NRK's four-season railway footage), pre-processed as VPRSNN does.

Layout: ``root/<season>/<frame image>`` (e.g. ``spring/images-00202.png``); frames with the same sorted
position in each season folder show the same place. ``train`` is the reference traverses (``reference``,
default spring and fall), ``test`` the query traverse (``query``, default summer). Per traverse the frames
are (optionally) filtered by a names list (``frame_list``, e.g. VPRSNN's ``nordland_imageNames.txt`` of
frames where the train moves faster than 15 km/h: lines whose digits give the kept frame indices), then every
``skip``-th kept frame is taken, the first ``offset`` of those are skipped and ``num_places`` kept (0 = all);
the label is the place index 0.. in that order (as ``tools/data_utils.py`` ``processImageDataset``).

Each image is resized (bilinear, like OpenCV ``INTER_LINEAR``) to ``size``, converted to grey (ITU-R 601:
0.299 R + 0.587 G + 0.114 B), patch-normalised (:func:`patch_normalise`, ``patch`` × ``patch``), mapped to
``uint8(255 (1 + z) / 2)`` and divided by 255. ``x`` has shape ``(1, 1, h, w)`` (one time step; Poisson-encode
it in the model, e.g. :class:`neuro.layers.PoissonEncoder`).

Example:
    >>> import numpy as np
    >>> z = patch_normalise(np.array([[0., 10.], [20., 30.]]), 3)
    >>> np.round(z, 3).tolist()
    [[-1.0, -0.447], [0.447, 1.0]]
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from neuro.data.archives import data_root, resolve_path
from neuro.data.base import FrameDataset, files_fingerprint
from neuro.data.images import image_files, load_image, resize_bilinear
from neuro.data.options import WorkDirs
from neuro.errors import ConfigError, DataFormatError

GREY = np.array([0.299, 0.587, 0.114])

__all__ = ["NordlandConfig", "build_nordland", "patch_normalise", "preprocess_place_image"]


@dataclass(frozen=True)
class NordlandConfig(WorkDirs):
    root: str = ""
    reference: tuple[str, ...] = ("spring", "fall")
    query: tuple[str, ...] = ("summer",)
    skip: int = 8
    offset: int = 0
    num_places: int = 0
    frame_list: str = ""
    size: tuple[int, ...] = (28, 28)
    patch: int = 7

    def __post_init__(self) -> None:
        if self.skip < 1 or self.offset < 0 or self.num_places < 0:
            raise ConfigError("data.skip must be >= 1, data.offset and data.num_places >= 0")
        if len(self.size) != 2 or min(self.size) < 1:
            raise ConfigError(f"data.size must be [height, width], got {list(self.size)}")
        if self.patch < 1 or self.patch % 2 == 0:
            raise ConfigError(f"data.patch must be an odd positive integer, got {self.patch}")
        if not self.reference or not self.query:
            raise ConfigError("data.reference and data.query must name at least one season folder")


def patch_normalise(image: np.ndarray, patch: int) -> np.ndarray:
    """``(I - mean) / std`` over the ``patch`` × ``patch`` neighbourhood of every pixel (outside the image
    ignored), NaN -> 0, clipped to [-1, 1] (VPRSNN's ``patch_normalise_pad``)."""
    half = (patch - 1) // 2
    padded = np.pad(np.asarray(image, dtype=np.float64), half, constant_values=np.nan)
    win = sliding_window_view(padded, (patch, patch))  # (H, W, patch, patch)
    with np.errstate(divide="ignore", invalid="ignore"):
        mu = np.nanmean(win, axis=(2, 3))
        sd = np.nanstd(win, axis=(2, 3))
        out = (image - mu) / sd
    out[np.isnan(out)] = 0.0
    return np.clip(out, -1.0, 1.0)


def preprocess_place_image(rgb: np.ndarray, size: tuple[int, int], patch: int) -> np.ndarray:
    """uint8 ``(h, w)`` image as VPRSNN's ``processImage`` computes it (resize, grey, patch-normalise)."""
    small = np.clip(np.round(resize_bilinear(rgb.astype(np.float64), size)), 0, 255)
    grey = np.round(small @ GREY)
    return (255.0 * (1 + patch_normalise(grey, patch)) / 2.0).astype(np.uint8)


def _kept_indices(frame_list: Path) -> set[int]:
    try:
        lines = frame_list.read_text().splitlines()
    except OSError as exc:
        raise DataFormatError(f"{frame_list}: cannot read the frame list ({exc})") from None
    out = set()
    for n, line in enumerate(lines, 1):
        digits = "".join(re.findall(r"\d", line))
        if line.strip() and not digits:
            raise DataFormatError(f"{frame_list}:{n}: no frame number in {line!r}")
        if digits:
            out.add(int(digits))
    return out


class PlaceSource:
    def __init__(self, cfg: NordlandConfig, split: str, root: Path) -> None:
        self.cfg, self.name = cfg, f"nordland-{split}"
        seasons = cfg.reference if split == "train" else cfg.query
        kept = _kept_indices(root / cfg.frame_list) if cfg.frame_list else None
        self.files: list[Path] = []
        labels: list[int] = []
        for season in seasons:
            frames = image_files(root / season)
            if kept is not None:
                frames = [f for i, f in enumerate(frames) if i in kept]
            frames = frames[:: cfg.skip][cfg.offset:]
            if cfg.num_places:
                frames = frames[: cfg.num_places]
            if not frames:
                raise DataFormatError(f"{root / season}: no frames left after skip={cfg.skip}, offset={cfg.offset}")
            self.files += frames
            labels += list(range(len(frames)))
        self.labels = np.asarray(labels, dtype=np.int64)
        self.num_classes = int(self.labels.max()) + 1
        self.input_shape = (1, int(cfg.size[0]), int(cfg.size[1]))
        self.storage_dtype = np.dtype(np.float32)
        self.seasons = seasons

    def __len__(self) -> int:
        return len(self.files)

    def item(self, i: int) -> np.ndarray:
        img = preprocess_place_image(load_image(self.files[i]), (self.cfg.size[0], self.cfg.size[1]), self.cfg.patch)
        return (img.astype(np.float32) / 255.0)[None, None]

    def cache_key(self) -> dict[str, Any]:
        c = self.cfg
        return {"dataset": self.name, "files": [str(f) for f in self.files[:1]], "n": len(self), "skip": c.skip,
                "offset": c.offset, "num_places": c.num_places, "size": list(c.size), "patch": c.patch,
                "seasons": list(self.seasons), "frame_list": c.frame_list}

    def fingerprint(self) -> str:
        return files_fingerprint(self.files)


def build_nordland(cfg: NordlandConfig, split: str) -> FrameDataset:
    if split not in ("train", "test"):
        raise ConfigError(f"Nordland split must be 'train' (reference) or 'test' (query), got {split!r}")
    root = resolve_path(cfg.root, data_root() / "nordland")
    return FrameDataset(PlaceSource(cfg, split, root), cfg.frames_dir())
