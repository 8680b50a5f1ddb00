"""Binary event formats: N-MNIST ``.bin`` (= SLAYER ``.bs2``) and SLAYER ``.bs1``, decode and encode.

Both formats are 5 bytes (40 bits) per event, no header, big-endian bit fields:

* ATIS / N-MNIST ``.bin`` and ``.bs2``: ``x = b0``, ``y = b1``, ``p = b2 >> 7``,
  ``t = (b2 & 0x7F) << 16 | b3 << 8 | b4`` (23-bit µs). A record with ``y == 240`` is a timestamp-overflow
  marker: every later event gets ``+2**13`` µs and the marker is dropped (Orchard's ``Read_Ndataset``, as in
  tonic's ``read_mnist_file``).
* ``.bs1`` (1-D, e.g. a 64-channel cochlea): ``channel = b0 << 8 | b1``, ``p = b2 >> 7``, ``t`` as above.

Decoding is vectorised numpy. Unlike tonic's reader (which these match value for value on valid files),
every defect is a :class:`~neuro.errors.DataFormatError` naming the file, the byte offset and the field:
a size that is not a whole number of records, a coordinate outside the sensor, a timestamp that goes
backwards after the overflow rule has been applied.

Example:
    >>> ev = make_events(x=[3, 4], y=[5, 6], t=[100, 9000], p=[1, 0])
    >>> back = decode_atis(encode_atis(ev), sensor_size=(34, 34, 2))
    >>> back["t"].tolist(), back["x"].tolist()
    ([100, 9000], [3, 4])
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from neuro.data.events import EVENT_DTYPE, make_events
from neuro.errors import DataFormatError

RECORD = 5
OVERFLOW_Y = 240
OVERFLOW_STEP = 1 << 13
T_MAX = (1 << 23) - 1

__all__ = ["decode_atis", "decode_bs1", "encode_atis", "encode_bs1", "read_atis", "read_bs1"]


def _records(data: bytes | bytearray | memoryview | np.ndarray, where: str) -> np.ndarray:
    raw = np.frombuffer(data, dtype=np.uint8) if not isinstance(data, np.ndarray) else \
        np.ascontiguousarray(data).view(np.uint8).ravel()
    whole = raw.size - raw.size % RECORD
    if whole != raw.size:
        raise DataFormatError(f"{where}: truncated record at byte offset {whole}: size {raw.size} bytes is not a "
                              f"multiple of {RECORD} bytes per event ({raw.size % RECORD} trailing byte(s))")
    return raw.reshape(-1, RECORD)


def _timestamps(rec: np.ndarray) -> np.ndarray:
    return ((rec[:, 2].astype(np.int64) & 0x7F) << 16) | (rec[:, 3].astype(np.int64) << 8) | rec[:, 4]


def _offset(rows: np.ndarray | None, i: int) -> int:
    """Byte offset of kept event ``i`` (``rows`` maps kept events to records; None = identity)."""
    return (i if rows is None else int(rows[i])) * RECORD


def _check_order(t: np.ndarray, rows: np.ndarray | None, where: str) -> None:
    if t.size > 1 and (t[1:] < t[:-1]).any():
        i = int(np.flatnonzero(t[1:] < t[:-1])[0]) + 1
        raise DataFormatError(f"{where}: byte offset {_offset(rows, i)}: timestamp t={int(t[i])} us goes "
                              f"backwards (previous event {int(t[i - 1])} us) beyond the overflow rule")


def _check_range(col: np.ndarray, limit: int, field: str, rows: np.ndarray | None, where: str) -> None:
    if col.size and col.max() >= limit:
        i = int(np.flatnonzero(col >= limit)[0])
        raise DataFormatError(f"{where}: byte offset {_offset(rows, i)}: {field}={int(col[i])} outside the "
                              f"sensor (expected {field} < {limit})")


def _words(data: bytes | bytearray | memoryview | np.ndarray, where: str) -> tuple[np.ndarray, np.ndarray]:
    """Per record: byte 0, and bytes 1..4 as one big-endian uint32 (strided view, no per-field passes)."""
    rec = _records(data, where)  # (n, 5) view of a contiguous byte buffer
    raw, n = rec.base if rec.base is not None else rec, rec.shape[0]
    word = np.ndarray(shape=(n,), dtype=">u4", buffer=raw, offset=1, strides=(RECORD,)) if n else \
        np.zeros(0, dtype=">u4")
    return rec[:, 0], word.astype(np.uint32)


def decode_atis(data: bytes | bytearray | memoryview | np.ndarray, sensor_size: tuple[int, int, int] | None = None,
                where: str = "<bytes>", check_order: bool = True) -> np.ndarray:
    """Decode N-MNIST ``.bin`` / SLAYER ``.bs2`` bytes into events (overflow markers applied and dropped).

    Args:
        data: the file's bytes.
        sensor_size: ``(W, H, P)``; when given, coordinates outside it are errors.
        where: name used in error messages (the file path).
        check_order: reject timestamps that decrease (after overflow correction).
    """
    x, word = _words(data, where)
    y = word >> 24
    t = (word & 0x7FFFFF).astype(np.int64)
    overflow = y == OVERFLOW_Y
    if overflow.any():
        t += np.cumsum(overflow, dtype=np.int64) * OVERFLOW_STEP
        rows = np.flatnonzero(~overflow)
        x, y, word, t = x[rows], y[rows], word[rows], t[rows]
    else:
        rows = None
    if sensor_size is not None:
        _check_range(x, sensor_size[0], "x", rows, where)
        _check_range(y, sensor_size[1], "y", rows, where)
    if check_order:
        _check_order(t, rows, where)
    ev = np.empty(t.shape[0], dtype=EVENT_DTYPE)
    ev["x"] = x
    ev["y"] = y
    ev["t"] = t
    ev["p"] = (word >> 23) & 1
    return ev


def decode_bs1(data: bytes | bytearray | memoryview | np.ndarray, n_channels: int | None = None,
               where: str = "<bytes>", check_order: bool = True) -> np.ndarray:
    """Decode SLAYER ``.bs1`` bytes (1-D: channel in ``x``, ``y = 0``)."""
    rec = _records(data, where)
    rows = None
    channel = (rec[:, 0].astype(np.int64) << 8) | rec[:, 1]
    if n_channels is not None:
        _check_range(channel, n_channels, "channel", rows, where)
    elif channel.size and channel.max() > np.iinfo(np.int16).max:
        _check_range(channel, np.iinfo(np.int16).max + 1, "channel", rows, where)
    t = _timestamps(rec)
    if check_order:
        _check_order(t, rows, where)
    return make_events(x=channel, y=0, t=t, p=rec[:, 2] >> 7)


def _read(path: str | Path) -> bytes:
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise DataFormatError(f"{path}: event file not found") from None
    except OSError as exc:
        raise DataFormatError(f"{path}: cannot read event file: {exc}") from None


def read_atis(path: str | Path, sensor_size: tuple[int, int, int] | None = None,
              check_order: bool = True) -> np.ndarray:
    """Read an N-MNIST ``.bin`` / SLAYER ``.bs2`` file (see :func:`decode_atis`)."""
    return decode_atis(_read(path), sensor_size, str(path), check_order)


def read_bs1(path: str | Path, n_channels: int | None = None, check_order: bool = True) -> np.ndarray:
    """Read a SLAYER ``.bs1`` file (see :func:`decode_bs1`)."""
    return decode_bs1(_read(path), n_channels, str(path), check_order)


def _pack(c0: np.ndarray, c1: np.ndarray, p: np.ndarray, t: np.ndarray) -> bytes:
    if t.size and (t.min() < 0 or t.max() > T_MAX):
        raise DataFormatError(f"timestamp out of the 23-bit range 0..{T_MAX} us")
    out = np.empty((t.size, RECORD), dtype=np.uint8)
    out[:, 0] = c0
    out[:, 1] = c1
    out[:, 2] = ((p.astype(np.int64) & 1) << 7) | (t >> 16)
    out[:, 3] = (t >> 8) & 0xFF
    out[:, 4] = t & 0xFF
    return out.tobytes()


def encode_atis(events: np.ndarray, markers_before: Sequence[int] = ()) -> bytes:
    """Encode events into N-MNIST ``.bin`` bytes, inserting overflow markers where needed.

    A marker goes before event ``i`` for each index in ``markers_before``, and automatically wherever a
    timestamp would not fit 23 bits; stored timestamps are reduced by ``2**13`` per preceding marker.
    """
    t = np.asarray(events["t"], dtype=np.int64)
    x = np.asarray(events["x"], dtype=np.int64)
    y = np.asarray(events["y"], dtype=np.int64)
    if (x < 0).any() or (x > 255).any() or (y < 0).any() or (y > 255).any() or (y == OVERFLOW_Y).any():
        raise DataFormatError("x and y must be in 0..255 (y != 240, the overflow marker)")
    explicit = np.zeros(t.size, dtype=np.int64)
    np.add.at(explicit, np.asarray(markers_before, dtype=np.int64), 1)
    need = np.maximum(0, -(-(t - T_MAX) // OVERFLOW_STEP))
    count = np.maximum.accumulate(np.maximum(np.cumsum(explicit), need)) if t.size else need
    stored = t - count * OVERFLOW_STEP
    if (stored < 0).any():
        raise DataFormatError("an overflow marker before an event with t < 8192 us would make its stored time negative")
    body = np.frombuffer(_pack(x, y, np.asarray(events["p"]), stored), dtype=np.uint8).reshape(-1, RECORD)
    new = np.diff(count, prepend=0)  # markers to insert before each event
    marker = np.array([0, OVERFLOW_Y, 0, 0, 0], dtype=np.uint8)
    return np.insert(body, np.repeat(np.arange(t.size), new), marker, axis=0).tobytes()


def encode_bs1(events: np.ndarray) -> bytes:
    """Encode 1-D events (channel in ``x``) into SLAYER ``.bs1`` bytes."""
    ch = np.asarray(events["x"], dtype=np.int64)
    if (ch < 0).any() or (ch > 0xFFFF).any():
        raise DataFormatError("channel must be in 0..65535")
    return _pack(ch >> 8, ch & 0xFF, np.asarray(events["p"]), np.asarray(events["t"], dtype=np.int64))
