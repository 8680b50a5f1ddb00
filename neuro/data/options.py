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
class FrameOptions(FrameSpec, WorkDirs):
    """Framing keys (:class:`~neuro.data.frames.FrameSpec`'s fields: exactly one of the four slicing keys > 0,
    validated on construction) plus :class:`WorkDirs`' keys."""

    def frame_spec(self) -> FrameSpec:
        """The framing keys alone, as a plain :class:`~neuro.data.frames.FrameSpec` (cache keys compare specs)."""
        names = [f.name for f in dataclasses.fields(FrameSpec)]
        return FrameSpec(**{n: getattr(self, n) for n in names})
