"""HDF5 frame cache: round trip, keyed by parameters, atomic, stale or corrupt caches rebuilt."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from neuro.data.cache import cache_file_name, load_or_build

LABELS = np.array([3, 1, 4])


def _make(calls: list[int], scale: int = 1):
    def make(i: int) -> np.ndarray:
        calls.append(i)
        return (np.arange((i + 1) * 8).reshape(i + 1, 2, 2, 2) * scale) % 7

    return make


def _open(path, calls, key=None, fingerprint="fp", labels=LABELS, scale=1, **kw):
    return load_or_build(path, key or {"bins": 10}, fingerprint, labels, _make(calls, scale), (2, 2, 2), np.uint8,
                         **kw)


def test_round_trip_and_reuse(tmp_path) -> None:
    path, calls = tmp_path / "c.h5", []
    c = _open(path, calls)
    assert c.built and calls == [0, 1, 2] and c.preloaded
    for i in range(3):
        np.testing.assert_array_equal(c.sample(i), _make([])(i))
    calls.clear()
    again = _open(path, calls)
    assert not again.built and calls == []  # valid cache: nothing recomputed
    assert [p.name for p in tmp_path.iterdir()] == ["c.h5"]  # no temporary files left behind


def test_lazy_reading_without_preload(tmp_path) -> None:
    c = _open(tmp_path / "c.h5", [], preload_bytes=0)
    assert not c.preloaded
    np.testing.assert_array_equal(c.sample(2), _make([])(2))


def test_other_parameters_or_changed_sources_rebuild(tmp_path) -> None:
    path, calls = tmp_path / "c.h5", []
    _open(path, calls)
    calls.clear()
    assert _open(path, calls, key={"bins": 20}).built and calls == [0, 1, 2]
    calls.clear()
    assert _open(path, calls, key={"bins": 20}, fingerprint="files changed").built
    calls.clear()
    assert _open(path, calls, key={"bins": 20}, fingerprint="files changed", labels=np.array([3, 1, 5])).built
    assert cache_file_name("x", {"a": 1}) != cache_file_name("x", {"a": 2})
    assert cache_file_name("x", {"a": 1, "b": 2}) == cache_file_name("x", {"b": 2, "a": 1})


@pytest.mark.parametrize("damage", ["truncate", "garbage", "incomplete", "offsets", "chunk"])
def test_corrupt_cache_is_rebuilt_not_used(tmp_path, damage) -> None:
    path, calls = tmp_path / "c.h5", []
    _open(path, calls)
    if damage == "truncate":
        path.write_bytes(path.read_bytes()[:900])
    elif damage == "garbage":
        path.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\x00" * 300)
    elif damage == "incomplete":
        with h5py.File(path, "a") as f:
            f.attrs["complete"] = False
    elif damage == "offsets":
        with h5py.File(path, "a") as f:
            f["offsets"][3] = 2
    else:  # flip bytes inside the compressed frames chunk: the Fletcher-32 checksum catches it
        with h5py.File(path, "r") as f:
            offset = f["frames"].id.get_chunk_info(0).byte_offset
        raw = bytearray(path.read_bytes())
        raw[offset + 4] ^= 0xFF
        raw[offset + 5] ^= 0xFF
        path.write_bytes(bytes(raw))
    calls.clear()
    c = _open(path, calls)
    assert c.built and calls == [0, 1, 2]
    np.testing.assert_array_equal(c.sample(1), _make([])(1))


def test_counts_beyond_uint8_widen_the_cache(tmp_path) -> None:
    path = tmp_path / "c.h5"
    c = load_or_build(path, {}, "fp", np.array([0]), lambda i: np.full((1, 2), 300), (2,), np.uint8)
    assert c.sample(0).tolist() == [[300, 300]]
    with h5py.File(path) as f:
        assert f["frames"].dtype == np.uint16
    assert not load_or_build(path, {}, "fp", np.array([0]), lambda i: 1 / 0, (2,), np.uint8).built
