"""ES-ImageNet (Lin et al. 2021): ImageNet converted to events by the ODG procedure (:mod:`neuro.data.odg`).

Layout under ``root`` (the unpacked ``ES-imagenet-0.18/`` folder)::

    train/classK/classK_i.npz    val/ILSVRC2012_val_XXXXXXXX.npz    trainlabel.txt    vallabel.txt

Each ``.npz`` holds uint8 arrays ``pos`` and ``neg`` of shape ``[N, 3]``; a label line is
``<file> <class> <a> <b>``, ``a`` and ``b`` the height and width of the resized source image (long side 254).

**Axis convention.** The generator stores ``torch.nonzero`` of a ``[height, width]`` difference image, so
column 0 is the **row** and column 1 the **column**; the authors' loader (``datasets/es_imagenet_new.py``)
centres with ``dx = (254 - a) // 2`` on column 0 and ``dy = (254 - b) // 2`` on column 1, sets
``canvas[0 (pos) | 1 (neg), t - 1, c0 + dx, c1 + dy] = 1`` on a ``[2, 8, 256, 256]`` canvas and crops
``[16:240, 16:240]`` to ``[2, 8, 224, 224]``. neuro keeps that: as events, ``y`` = column 0 (row),
``x`` = column 1 (column), ``t`` = the frame number 1..8 (not µs), ``p`` = 1 for ``pos`` and 0 for ``neg``
(spikingjelly's reading); as frames, channel 0 is ``pos`` and channel 1 ``neg`` (the authors' order), and
the dataset yields them time-major, ``(8, 2, 224, 224)`` = the authors' tensor with its first two axes swapped.

Example:
    >>> import numpy as np
    >>> pos = np.array([[20, 30, 1]], dtype=np.uint8); neg = np.zeros((0, 3), dtype=np.uint8)
    >>> f = es_imagenet_frames(pos, neg, a=254, b=200)   # dx = 0, dy = 27
    >>> f.shape, np.argwhere(f).tolist()
    ((2, 8, 224, 224), [[0, 0, 4, 41]])
"""

from __future__ import annotations

import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from neuro.data.archives import data_root, resolve_path
from neuro.data.base import FrameDataset, files_fingerprint
from neuro.data.events import make_events
from neuro.data.options import WorkDirs
from neuro.errors import ConfigError, DataFormatError

CANVAS, LONG_SIDE, CROP = 256, 254, (16, 240)
N_FRAMES = 8
SPLITS = {"train": ("train", "trainlabel.txt"), "test": ("val", "vallabel.txt"), "val": ("val", "vallabel.txt")}

__all__ = ["ESImageNetConfig", "build_es_imagenet", "es_imagenet_events", "es_imagenet_frames", "read_es_npz",
           "read_label_file"]


@dataclass(frozen=True)
class ESImageNetConfig(WorkDirs):
    root: str = ""
    cache: bool = False  # 800 kB of frames per sample: framing on the fly is cheaper than a 1M-sample cache


def read_label_file(path: Path, num_classes: int = 1000) -> list[tuple[str, int, int, int]]:
    """``(file, class, a, b)`` per line of ``trainlabel.txt`` / ``vallabel.txt``."""
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        raise DataFormatError(f"{path}: ES-ImageNet label file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DataFormatError(f"{path}: cannot read label file ({exc})") from None
    out = []
    for n, line in enumerate(lines, 1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 4:
            raise DataFormatError(f"{path}:{n}: expected '<file> <class> <a> <b>', got {line!r}")
        try:
            cls, a, b = int(parts[1]), int(parts[2]), int(parts[3])
        except ValueError:
            raise DataFormatError(f"{path}:{n}: class, a and b must be integers, got {line!r}") from None
        if not 0 <= cls < num_classes or not (0 < a <= LONG_SIDE and 0 < b <= LONG_SIDE):
            raise DataFormatError(f"{path}:{n}: class {cls} (0..{num_classes - 1}) or size {a}x{b} "
                                  f"(1..{LONG_SIDE}) out of range")
        out.append((parts[0], cls, a, b))
    if not out:
        raise DataFormatError(f"{path}: label file lists no samples")
    return out


def read_es_npz(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """``pos`` and ``neg`` arrays (uint8 ``[N, 3]``: row, column, frame 1..8) of one sample file."""
    try:
        fh = open(path, "rb")  # closed by the with below (np.load leaks its own handle on bad input)
    except FileNotFoundError:
        raise DataFormatError(f"{path}: sample file not found") from None
    except OSError as exc:
        raise DataFormatError(f"{path}: cannot open ({exc})") from None
    with fh:
        try:
            z = np.load(fh, allow_pickle=False)
            if not isinstance(z, np.lib.npyio.NpzFile):
                raise DataFormatError(f"{path}: not an .npz archive (holds a single array)")
            with z:
                missing = [k for k in ("pos", "neg") if k not in z.files]
                if missing:
                    raise DataFormatError(f"{path}: missing array(s) {missing} (found {z.files})")
                pos, neg = z["pos"], z["neg"]
        except DataFormatError:
            raise
        except (ValueError, OSError, EOFError, KeyError, zipfile.BadZipFile, zlib.error, NotImplementedError,
                RuntimeError) as exc:
            raise DataFormatError(f"{path}: not a readable .npz ({type(exc).__name__}: {exc})") from None
    for name, arr in (("pos", pos), ("neg", neg)):
        if arr.ndim != 2 or arr.shape[1] != 3 or arr.dtype.kind not in "ui":
            raise DataFormatError(f"{path}: array {name!r} must be integer [N, 3], got {arr.shape} {arr.dtype}")
        bad = np.flatnonzero((arr[:, 2] < 1) | (arr[:, 2] > N_FRAMES))
        if bad.size:
            raise DataFormatError(f"{path}: {name}[{bad[0]}]: t={arr[bad[0], 2]} outside 1..{N_FRAMES}")
    return pos, neg


def es_imagenet_events(pos: np.ndarray, neg: np.ndarray) -> np.ndarray:
    """Events (x = column 1, y = column 0, t = frame 1..8, p = 1 pos / 0 neg), ordered by t (stable)."""
    both = np.concatenate([pos, neg]).astype(np.int64)
    ev = make_events(x=both[:, 1], y=both[:, 0], t=both[:, 2], p=np.r_[np.ones(len(pos)), np.zeros(len(neg))])
    return ev[np.argsort(ev["t"], kind="stable")]


def es_imagenet_frames(pos: np.ndarray, neg: np.ndarray, a: int, b: int, where: str = "sample") -> np.ndarray:
    """The authors' dense frames: uint8 ``[2, 8, 224, 224]`` (channel 0 = pos), see the module doc."""
    dx, dy = (LONG_SIDE - a) // 2, (LONG_SIDE - b) // 2
    canvas = np.zeros((2, N_FRAMES, CANVAS, CANVAS), dtype=np.uint8)
    for ch, arr in enumerate((pos, neg)):
        arr = arr.astype(np.int64)
        r, c = arr[:, 0] + dx, arr[:, 1] + dy
        bad = np.flatnonzero((r < 0) | (r >= CANVAS) | (c < 0) | (c >= CANVAS))
        if bad.size:
            name = ("pos", "neg")[ch]
            raise DataFormatError(f"{where}: {name}[{bad[0]}] = {arr[bad[0]].tolist()} lands outside the "
                                  f"{CANVAS}x{CANVAS} canvas after centring (a={a}, b={b})")
        canvas[ch, arr[:, 2] - 1, r, c] = 1
    lo, hi = CROP
    return canvas[:, :, lo:hi, lo:hi]


class ESImageNetSource:
    def __init__(self, root: Path, split: str) -> None:
        folder, label_name = SPLITS[split]
        self.name = f"es_imagenet-{split}"
        self.folder = root / folder
        self.label_file = root / label_name
        rows = read_label_file(self.label_file)
        self.files = [self.folder / Path(f).with_suffix(".npz") for f, _, _, _ in rows]
        self.sizes = [(a, b) for _, _, a, b in rows]
        self.labels = np.asarray([c for _, c, _, _ in rows], dtype=np.int64)
        self.num_classes = 1000
        self.input_shape = (2, CROP[1] - CROP[0], CROP[1] - CROP[0])
        self.storage_dtype = np.dtype(np.uint8)

    def __len__(self) -> int:
        return len(self.files)

    def events(self, i: int) -> np.ndarray:
        return es_imagenet_events(*read_es_npz(self.files[i]))

    def item(self, i: int) -> np.ndarray:
        pos, neg = read_es_npz(self.files[i])
        return es_imagenet_frames(pos, neg, *self.sizes[i], where=str(self.files[i])).transpose(1, 0, 2, 3)

    def cache_key(self) -> dict[str, Any]:
        return {"dataset": self.name, "root": str(self.folder), "n": len(self)}

    def fingerprint(self) -> str:
        return files_fingerprint([self.label_file])


def build_es_imagenet(cfg: ESImageNetConfig, split: str) -> FrameDataset:
    if split not in SPLITS:
        raise ConfigError(f"ES-ImageNet split must be one of {sorted(SPLITS)}, got {split!r}")
    root = resolve_path(cfg.root, data_root() / "es_imagenet")
    return FrameDataset(ESImageNetSource(root, split), cfg.frames_dir())
