"""TOML options shared by the event datasets' ``[data]`` tables.

:class:`FrameOptions` holds the framing keys (see :class:`~neuro.data.frames.FrameSpec`) plus where work
files go: ``cache`` (use the HDF5 frame cache) and ``cache_dir`` (archives are unpacked into
``<cache_dir>/extracted`` and frame caches written to ``<cache_dir>/frames``; empty = the data root,
``$NEURO_DATA_ROOT`` or ``./datasets/data``). Dataset configs subclass it and add their own keys.

Example:
    >>> FrameOptions(n_time_bins=50, crop=(16, 16), polarity=0, binarize=True).frame_spec().output_shape((34, 34, 2))
    (1, 16, 16)
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from neuro.data.archives import data_root, resolve_path
from neuro.data.frames import FrameSpec

__all__ = ["FrameOptions", "WorkDirs"]


@dataclass(frozen=True)
class WorkDirs:
    """Where a dataset may write: ``cache`` toggles the frame cache; ``cache_dir`` as in the module doc."""

    cache: bool = True
    cache_dir: str = ""

    def work_dir(self) -> Path:
        return resolve_path(self.cache_dir, data_root())

    def frames_dir(self) -> Path | None:
        return self.work_dir() / "frames" if self.cache else None

    def extract_dir(self) -> Path:
        return self.work_dir() / "extracted"


@dataclass(frozen=True)
class FrameOptions(WorkDirs):
    """Framing keys (exactly one of the four slicing keys > 0); validated on construction."""

    n_time_bins: int = 0
    n_event_bins: int = 0
    time_window: float = 0.0
    event_count: int = 0
    include_incomplete: bool = False
    representation: Literal["frames", "voxels"] = "frames"
    crop: tuple[int, ...] = ()
    polarity: int = -1
    binarize: bool = False

    def __post_init__(self) -> None:
        self.frame_spec()

    def frame_spec(self) -> FrameSpec:
        names = [f.name for f in dataclasses.fields(FrameSpec)]
        return FrameSpec(**{n: getattr(self, n) for n in names})
