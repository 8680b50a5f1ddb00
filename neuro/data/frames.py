"""Events to frames and voxel grids, vectorised (one ``np.bincount`` per sample, no per-event loop).

Slicing follows tonic's ``ToFrame`` exactly (overlap 0), so ``to_frames`` returns the same counts as
``tonic.functional.to_frame_numpy``; for a sorted stream starting at ``t0 = t[0]``:

* ``n_time_bins = n``: width ``w = (t[-1] - t0) // n``; event -> bin ``(t - t0) // w``; bins ``>= n`` dropped.
* ``n_event_bins = n``: ``k = N // n`` events per bin; event ``i`` -> bin ``i // k``.
* ``time_window = w`` (µs): bins ``(t - t0) // w``, ``floor((t[-1] - t0 - w) / w) + 1`` of them (``ceil``
  with ``include_incomplete``), at least one.
* ``event_count = k``: bins ``i // k``, ``floor((N - k) / k) + 1`` of them (``ceil`` with ``include_incomplete``).

The voxel grid is tonic's ``to_voxel_grid`` (Zhu et al. 2019): polarity as ±1, bilinear in time over
``n_time_bins`` bins, one channel.

Frames are ``(T, P, H, W)`` (time-major; ``sensor_size = (W, H, P)``). :class:`FrameSpec` adds the
post-processing applied to those frames, in this order: centre ``crop`` to ``(h, w)`` (of the frame,
after slicing over the whole sensor), ``polarity`` selection (keeps one channel), ``binarize``.

Example:
    >>> from neuro.data.events import make_events
    >>> ev = make_events(x=[0, 1, 1, 2], y=0, t=[0, 10, 20, 40], p=[0, 1, 1, 0])
    >>> to_frames(ev, (3, 1, 2), n_time_bins=2)[:, :, 0, :].tolist()  # bins [0, 20), [20, 40); t=40 dropped
    [[[1, 0, 0], [0, 1, 0]], [[0, 0, 0], [0, 1, 0]]]
    >>> FrameSpec(n_time_bins=4, polarity=1).output_shape((34, 34, 2))
    (1, 34, 34)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from neuro.errors import ConfigError, ShapeError

__all__ = ["FrameSpec", "bin_index", "center_crop", "to_frames", "to_voxels"]


def _n_set(**kw: float | int | None) -> list[str]:
    return [k for k, v in kw.items() if v]


def bin_index(t: np.ndarray, n_time_bins: int = 0, n_event_bins: int = 0, time_window: float = 0,
              event_count: int = 0, include_incomplete: bool = False) -> tuple[np.ndarray, int]:
    """Bin of every event (``-1`` = dropped) and the number of bins, by exactly one slicing rule."""
    chosen = _n_set(n_time_bins=n_time_bins, n_event_bins=n_event_bins, time_window=time_window,
                    event_count=event_count)
    if len(chosen) != 1:
        raise ConfigError(f"choose exactly one of n_time_bins, n_event_bins, time_window, event_count; got {chosen}")
    n_ev = t.shape[0]
    if n_event_bins or event_count:
        idx = np.arange(n_ev, dtype=np.int64)
        if n_event_bins:
            n_bins = int(n_event_bins)
            stride = width = n_ev // n_bins
        else:
            stride, width = int(event_count), min(int(event_count), n_ev)
            span = (n_ev - width) / stride
            n_bins = int(np.ceil(span) + 1 if include_incomplete else np.floor(span) + 1)
        if width == 0:
            return np.full(n_ev, -1, dtype=np.int64), n_bins
        b = idx // stride
        b[(b >= n_bins) | (idx - b * stride >= width)] = -1
        return b, n_bins
    if n_ev == 0:
        return np.zeros(0, dtype=np.int64), int(n_time_bins) if n_time_bins else 1
    t = np.asarray(t)
    t = t.astype(np.int64, copy=False) if t.dtype.kind in "iu" else t.astype(np.float64, copy=False)
    t0, t1 = t[0], t[-1]
    if n_time_bins:
        n_bins = int(n_time_bins)
        width = (t1 - t0) // n_bins
    else:
        width = time_window
        span = (t1 - t0 - width) / width
        n_bins = max(int(np.ceil(span) + 1 if include_incomplete else np.floor(span) + 1), 1)
    if width <= 0:
        return np.full(n_ev, -1, dtype=np.int64), n_bins
    b = ((t - t0) // width).astype(np.int64, copy=False)
    b[(b >= n_bins) | (b < 0)] = -1
    return b, n_bins


def to_frames(events: np.ndarray, sensor_size: tuple[int, int, int], n_time_bins: int = 0, n_event_bins: int = 0,
              time_window: float = 0, event_count: int = 0, include_incomplete: bool = False) -> np.ndarray:
    """Event counts per ``(bin, polarity, y, x)``: int64 array of shape ``(T, P, H, W)``."""
    width, height, pols = (int(s) for s in sensor_size)
    b, n_bins = bin_index(events["t"], n_time_bins, n_event_bins, time_window, event_count, include_incomplete)
    flat = b * (pols * height * width)
    flat += events["p"].astype(np.int64) * (height * width)
    flat += events["y"].astype(np.int64) * width
    flat += events["x"]
    size = n_bins * pols * height * width
    if b.size and b.min() < 0:
        flat = flat[b >= 0]
    return np.bincount(flat, minlength=size)[:size].reshape(n_bins, pols, height, width)


def to_voxels(events: np.ndarray, sensor_size: tuple[int, int, int], n_time_bins: int) -> np.ndarray:
    """Voxel grid ``(T, 1, H, W)`` float64: polarity ±1 split bilinearly between neighbouring time bins."""
    width, height = int(sensor_size[0]), int(sensor_size[1])
    out = np.zeros(n_time_bins * height * width)
    if events.shape[0] == 0:
        return out.reshape(n_time_bins, 1, height, width)
    t = events["t"].astype(np.float64)
    duration = t[-1] - t[0]
    ts = n_time_bins * (t - t[0]) / duration if duration > 0 else np.zeros_like(t)  # one instant: all in bin 0
    pol = np.where(events["p"] > 0, 1.0, -1.0)
    ti = ts.astype(np.int64)
    dt = ts - ti
    pix = events["x"].astype(np.int64) + events["y"].astype(np.int64) * width
    for shift, val in ((0, pol * (1.0 - dt)), (1, pol * dt)):
        ok = (ti + shift) < n_time_bins
        out += np.bincount(pix[ok] + (ti[ok] + shift) * width * height, weights=val[ok], minlength=out.size)
    return out.reshape(n_time_bins, 1, height, width)


def center_crop(frames: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Centre crop of the last two axes to ``size = (h, w)``; offset ``(H - h) // 2``."""
    h, w = size
    height, width = frames.shape[-2:]
    if h > height or w > width:
        raise ShapeError(f"crop {tuple(size)} is larger than the frame {(height, width)}")
    top, left = (height - h) // 2, (width - w) // 2
    return frames[..., top:top + h, left:left + w]


@dataclass(frozen=True)
class FrameSpec:
    """How a sample's events become a ``(T, C, H, W)`` tensor (exactly one slicing rule is non-zero).

    Attributes:
        n_time_bins, n_event_bins, time_window, event_count, include_incomplete: slicing (see module doc);
            ``time_window`` in µs.
        representation: ``"frames"`` (event counts per polarity) or ``"voxels"`` (needs ``n_time_bins``).
        crop: centre crop ``(h, w)`` applied to the frames; ``()`` keeps the whole sensor.
        polarity: keep only this polarity channel (``-1`` keeps all).
        binarize: clip counts to 0/1.
    """

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
        chosen = _n_set(n_time_bins=self.n_time_bins, n_event_bins=self.n_event_bins, time_window=self.time_window,
                        event_count=self.event_count)
        if len(chosen) != 1:
            raise ConfigError("data: set exactly one of n_time_bins, n_event_bins, time_window, event_count "
                              f"(> 0); got {chosen or 'none'}")
        if min(self.n_time_bins, self.n_event_bins, self.time_window, self.event_count) < 0:
            raise ConfigError("data: slicing parameters must be >= 0")
        if self.representation == "voxels" and not self.n_time_bins:
            raise ConfigError("data.representation = 'voxels' needs data.n_time_bins")
        if self.crop and (len(self.crop) != 2 or min(self.crop) < 1):
            raise ConfigError(f"data.crop must be [height, width] with positive entries, got {list(self.crop)}")

    @property
    def fixed_length(self) -> bool:
        """True when every sample gets the same number of time steps."""
        return bool(self.n_time_bins or self.n_event_bins)

    def output_shape(self, sensor_size: tuple[int, int, int]) -> tuple[int, int, int]:
        """Shape of one time step, ``(C, H, W)``."""
        width, height, pols = sensor_size
        channels = 1 if self.representation == "voxels" else pols
        if self.polarity >= 0:
            if self.representation == "voxels" or self.polarity >= pols:
                raise ConfigError(f"data.polarity = {self.polarity} needs frames with more than {self.polarity} "
                                  f"polarity channel(s) (sensor has {pols})")
            channels = 1
        h, w = self.crop if self.crop else (height, width)
        if h > height or w > width:
            raise ConfigError(f"data.crop {list(self.crop)} is larger than the sensor {(height, width)}")
        return (channels, h, w)

    def apply(self, events: np.ndarray, sensor_size: tuple[int, int, int]) -> np.ndarray:
        """Events -> ``(T, C, H, W)`` frames (int64 counts, 0/1 if binarised; float64 voxels)."""
        if self.representation == "voxels":
            out = to_voxels(events, sensor_size, self.n_time_bins)
        else:
            out = to_frames(events, sensor_size, self.n_time_bins, self.n_event_bins, self.time_window,
                            self.event_count, self.include_incomplete)
        if self.crop:
            out = center_crop(out, (self.crop[0], self.crop[1]))
        if self.polarity >= 0:
            out = out[:, self.polarity:self.polarity + 1]
        if self.binarize:
            out = (out != 0).astype(out.dtype)
        return out

    @property
    def storage_dtype(self) -> np.dtype:
        """Cache dtype: float32 voxels, uint8 counts (a cache widens to uint16 / int32 when counts need it)."""
        return np.dtype(np.float32) if self.representation == "voxels" else np.dtype(np.uint8)
