"""Event arrays: tonic's convention, with validation that names the offending field.

An event stream is a numpy structured array with fields ``x, y, t, p`` (:data:`EVENT_DTYPE`), ``t`` in
microseconds, sorted by ``t``. A sensor is described by ``sensor_size = (W, H, P)`` (tonic's order: width,
height, number of polarities); 1-D sensors such as a cochlea use ``H = 1`` and ``y = 0``, with the channel
in ``x``. ``p`` is a polarity *index* in ``0 .. P-1``.

Example:
    >>> ev = make_events(x=[1, 2], y=[0, 3], t=[10, 20], p=[1, 0])
    >>> ev["t"].tolist(), ev.dtype.names
    ([10, 20], ('x', 'y', 't', 'p'))
    >>> check_events(ev, (34, 34, 2), "demo") is ev
    True
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from neuro.errors import DataFormatError

#: Event record: x (column), y (row), t (µs), p (polarity index).
EVENT_DTYPE = np.dtype([("x", "<i2"), ("y", "<i2"), ("t", "<i8"), ("p", "<i1")])

__all__ = ["EVENT_DTYPE", "check_events", "make_events"]


def make_events(x: Sequence[int] | np.ndarray, y: Sequence[int] | np.ndarray | int, t: Sequence[int] | np.ndarray,
                p: Sequence[int] | np.ndarray | int) -> np.ndarray:
    """Build an event array from columns (scalars ``y`` / ``p`` broadcast to every event)."""
    x = np.asarray(x)
    out = np.empty(x.shape[0], dtype=EVENT_DTYPE)
    out["x"] = x
    out["y"] = y
    out["t"] = t
    out["p"] = p
    return out


def check_events(events: np.ndarray, sensor_size: tuple[int, int, int], where: str) -> np.ndarray:
    """Check fields, coordinate ranges and time order; return ``events`` unchanged or raise.

    Raises:
        DataFormatError: naming ``where``, the field, the first bad event index and its value.
    """
    if not isinstance(events, np.ndarray) or events.dtype.names is None:
        raise DataFormatError(f"{where}: expected a structured event array, got {type(events).__name__}")
    missing = [f for f in ("x", "y", "t", "p") if f not in events.dtype.names]
    if missing:
        raise DataFormatError(f"{where}: event array lacks field(s) {missing}; has {events.dtype.names}")
    width, height, pols = sensor_size
    for field, hi in (("x", width), ("y", height), ("p", pols)):
        col = events[field]
        bad = np.flatnonzero((col < 0) | (col >= hi))
        if bad.size:
            i = int(bad[0])
            raise DataFormatError(f"{where}: event {i}: {field}={int(col[i])} outside the sensor "
                                  f"(expected 0 <= {field} < {hi} for sensor_size {tuple(sensor_size)})")
    back = np.flatnonzero(np.diff(events["t"]) < 0)
    if back.size:
        i = int(back[0]) + 1
        raise DataFormatError(f"{where}: event {i}: t={int(events['t'][i])} us goes backwards "
                              f"(previous event at {int(events['t'][i - 1])} us)")
    return events
