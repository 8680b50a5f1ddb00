"""Image files for the image-based datasets (Nordland, ODG conversion): decoding, resizing, folders.

Example:
    >>> import numpy as np
    >>> resize_bilinear(np.arange(16.0).reshape(4, 4), (2, 2)).tolist()
    [[2.5, 4.5], [10.5, 12.5]]
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from neuro.errors import DataFormatError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".tif", ".tiff")

__all__ = ["IMAGE_SUFFIXES", "image_files", "load_image", "resize_bilinear", "resize_nearest"]


def load_image(path: str | Path) -> np.ndarray:
    """uint8 ``(H, W, 3)`` RGB (grey images are repeated, alpha dropped); errors name the file."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im.load()
            rgb = im.convert("RGB")
    except FileNotFoundError:
        raise DataFormatError(f"{path}: image not found") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise DataFormatError(f"{path}: not a readable image ({exc})") from None
    return np.asarray(rgb, dtype=np.uint8)


def image_files(folder: Path) -> list[Path]:
    """Image files directly in ``folder``, sorted by name."""
    if not folder.is_dir():
        raise DataFormatError(f"{folder}: image folder not found")
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def _interp(img: np.ndarray, size: tuple[int, int], mode: str) -> np.ndarray:
    x = torch.from_numpy(np.ascontiguousarray(img, dtype=np.float64))
    chw = x.permute(2, 0, 1)[None] if x.dim() == 3 else x[None, None]
    kw = {"align_corners": False} if mode == "bilinear" else {}
    out = torch.nn.functional.interpolate(chw, size=tuple(int(s) for s in size), mode=mode, **kw)[0]
    return (out.permute(1, 2, 0) if x.dim() == 3 else out[0]).numpy()


def resize_bilinear(img: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of ``(H, W)`` or ``(H, W, C)`` to ``size = (h, w)`` (half-pixel centres, no antialias,
    like OpenCV's ``INTER_LINEAR``), float64."""
    return _interp(img, size, "bilinear")


def resize_nearest(img: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour resize (``torch.nn.functional.interpolate(mode="nearest")``), float64."""
    return _interp(img, size, "nearest")
