"""ATIS (.bin/.bs2) and .bs1 codecs: real files against MANIFEST/tonic, golden overflow, errors, fuzzing."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from neuro.data.binary import decode_atis, decode_bs1, encode_atis, encode_bs1, read_atis, read_bs1
from neuro.data.events import make_events
from neuro.errors import DataFormatError, NeuroError
from tests.neuro.data.conftest import manifest_stats, nmnist_small_rows

NMNIST = (34, 34, 2)


def test_all_nmnist_small_files_match_the_manifest(shared_data) -> None:
    rows = nmnist_small_rows(shared_data)
    assert len(rows) == 1100
    for r in rows:
        ev = read_atis(shared_data / "nmnist" / "slayer_NMNISTsmall" / r["file"], NMNIST)
        assert len(ev) == int(r["n_events"]), r["file"]
        assert int(ev["t"].max()) == int(r["t_max_us"]), r["file"]
        assert ev["x"].max() <= 33 and ev["y"].max() <= 33 and set(np.unique(ev["p"])) <= {0, 1}


def test_tonic_sample_statistics(shared_data) -> None:
    ev = read_atis(shared_data / "nmnist" / "tonic_sample_nmnist.bin", NMNIST)
    stats = manifest_stats(shared_data)["nmnist/tonic_sample_nmnist.bin"]
    assert len(ev) == stats["n"] == 4325
    assert (int(ev["t"].min()), int(ev["t"].max())) == (stats["t_min"], stats["t_max"])
    assert (int(ev["x"].min()), int(ev["x"].max())) == (stats["x_min"], stats["x_max"])
    # PAPERS.md §6.1 gives the polarity counts as "2,180 / 2,145" without saying which is which
    assert sorted(np.bincount(ev["p"]).tolist()) == [2145, 2180]


def test_dvs_gesture_clips_match_the_manifest(shared_data) -> None:
    stats = manifest_stats(shared_data)
    for k in range(1, 11):
        name = f"dvs_gesture/slayer_bs2/{k}.bs2"
        ev = read_atis(shared_data / name, (128, 128, 2))
        s = stats[name]
        assert len(ev) == s["n"]
        assert (int(ev["t"].min()), int(ev["t"].max())) == (s["t_min"], s["t_max"])
        assert (int(ev["x"].min()), int(ev["x"].max())) == (s["x_min"], s["x_max"])


def test_ntidigits_bs1_matches_the_manifest(shared_data) -> None:
    ev = read_bs1(shared_data / "ntidigits" / "slayer_NTIDIGITS_1.bs1", 64)
    s = manifest_stats(shared_data)["ntidigits/slayer_NTIDIGITS_1.bs1"]
    assert len(ev) == s["n"] == 898
    assert (int(ev["x"].min()), int(ev["x"].max())) == (0, 63)
    assert (int(ev["t"].min()), int(ev["t"].max())) == (s["t_min"], s["t_max"])
    assert set(np.unique(ev["p"])) == {1} and set(np.unique(ev["y"])) == {0}


def test_same_events_as_tonic_reader(shared_data) -> None:
    from tonic.datasets.nmnist import NMNIST as TonicNMNIST
    from tonic.io import read_mnist_file

    files = sorted((shared_data / "nmnist" / "slayer_NMNISTsmall").glob("*.bs2"))[::25]
    files += [shared_data / "nmnist" / "tonic_sample_nmnist.bin"]
    for f in files:
        ours, theirs = read_atis(f, NMNIST), read_mnist_file(str(f), dtype=TonicNMNIST.dtype)
        for field in "xytp":
            np.testing.assert_array_equal(ours[field], theirs[field])


def _record(x: int, y: int, p: int, t: int) -> bytes:
    return bytes([x, y, (p << 7) | (t >> 16), (t >> 8) & 0xFF, t & 0xFF])


def test_golden_overflow_marker() -> None:
    # events at stored t = 8000, 100, 200 with an overflow marker before the 2nd: +8192 us from there on
    raw = _record(1, 2, 1, 8000) + _record(0, 240, 0, 0) + _record(3, 4, 0, 100) + _record(5, 6, 1, 200)
    ev = decode_atis(raw, NMNIST)
    assert ev["t"].tolist() == [8000, 8292, 8392]
    assert ev["x"].tolist() == [1, 3, 5] and ev["y"].tolist() == [2, 4, 6] and ev["p"].tolist() == [1, 0, 1]


def test_overflow_markers_match_tonic(tmp_path) -> None:
    from tonic.datasets.nmnist import NMNIST as TonicNMNIST
    from tonic.io import read_mnist_file

    raw = b"".join([_record(1, 1, 0, 8190), _record(9, 240, 1, 5), _record(2, 2, 1, 10),
                    _record(0, 240, 0, 0), _record(0, 240, 0, 0), _record(3, 3, 0, 5)])
    (tmp_path / "o.bin").write_bytes(raw)
    theirs = read_mnist_file(str(tmp_path / "o.bin"), dtype=TonicNMNIST.dtype)
    ours = decode_atis(raw, NMNIST)
    assert ours["t"].tolist() == theirs["t"].tolist() == [8190, 10 + 8192, 5 + 3 * 8192]


def test_encoder_inserts_markers_for_long_recordings() -> None:
    ev = make_events(x=[1, 2, 3], y=[4, 5, 6], t=[5, 9_000_000, 20_000_000], p=[0, 1, 0])
    raw = encode_atis(ev)
    rec = np.frombuffer(raw, np.uint8).reshape(-1, 5)
    assert (rec[:, 1] == 240).sum() > 0
    back = decode_atis(raw, NMNIST)
    assert back["t"].tolist() == [5, 9_000_000, 20_000_000]


events_strategy = st.lists(
    st.tuples(st.integers(0, 33), st.integers(0, 33), st.integers(0, 1), st.integers(0, 2_000_000)),
    max_size=60,
)


@settings(max_examples=300)
@given(events_strategy, st.lists(st.integers(0, 59), max_size=4))
def test_atis_round_trip(rows, markers) -> None:
    rows = sorted(rows, key=lambda r: r[3])
    ev = make_events(x=[r[0] for r in rows], y=[r[1] for r in rows], t=[r[3] for r in rows], p=[r[2] for r in rows])
    markers = [m for m in markers if m < len(rows) and rows[m][3] >= 8192 * 4]
    back = decode_atis(encode_atis(ev, markers_before=markers), NMNIST)
    for field in "xytp":
        np.testing.assert_array_equal(back[field], ev[field])


@settings(max_examples=200)
@given(st.lists(st.tuples(st.integers(0, 32767), st.integers(0, 1), st.integers(0, (1 << 23) - 1)), max_size=50))
def test_bs1_round_trip(rows) -> None:
    rows = sorted(rows, key=lambda r: r[2])
    ev = make_events(x=[r[0] for r in rows], y=0, t=[r[2] for r in rows], p=[r[1] for r in rows])
    back = decode_bs1(encode_bs1(ev))
    np.testing.assert_array_equal(back["x"], ev["x"])
    np.testing.assert_array_equal(back["p"], ev["p"])
    np.testing.assert_array_equal(back["t"], ev["t"])


def test_truncated_record_names_file_and_offset(tmp_path) -> None:
    path = tmp_path / "cut.bin"
    path.write_bytes(_record(1, 1, 0, 10) + _record(2, 2, 0, 20)[:3])
    with pytest.raises(DataFormatError, match=r"cut\.bin: truncated record at byte offset 5"):
        read_atis(path, NMNIST)


def test_coordinate_outside_sensor_names_offset_and_field(tmp_path) -> None:
    path = tmp_path / "wide.bin"
    path.write_bytes(_record(1, 1, 0, 10) + _record(34, 2, 0, 20))
    with pytest.raises(DataFormatError, match=r"wide\.bin: byte offset 5: x=34 outside the sensor"):
        read_atis(path, NMNIST)
    with pytest.raises(DataFormatError, match=r"byte offset 0: channel=70"):
        decode_bs1(bytes([0, 70, 0, 0, 1]), 64, "c.bs1")


def test_timestamps_going_backwards_beyond_overflow(tmp_path) -> None:
    path = tmp_path / "back.bin"
    path.write_bytes(_record(1, 1, 0, 5000) + _record(2, 2, 0, 4000))
    with pytest.raises(DataFormatError, match=r"back\.bin: byte offset 5: timestamp t=4000 us goes backwards"):
        read_atis(path, NMNIST)
    # the same drop after an overflow marker is legal: 4000 + 8192 > 5000
    ok = _record(1, 1, 0, 5000) + _record(0, 240, 0, 0) + _record(2, 2, 0, 4000)
    assert decode_atis(ok, NMNIST)["t"].tolist() == [5000, 12192]
    # offsets count the marker records: the bad event is the 4th record (offset 15)
    bad = ok + _record(3, 3, 0, 10)
    with pytest.raises(DataFormatError, match="byte offset 15"):
        decode_atis(bad, NMNIST)


def test_missing_file() -> None:
    with pytest.raises(DataFormatError, match="not found"):
        read_atis("/nonexistent/x.bin")


@settings(max_examples=2500)
@given(st.binary(max_size=80), st.booleans())
def test_fuzz_readers_raise_only_neuro_errors(data, bs1) -> None:
    try:
        ev = decode_bs1(data, 64) if bs1 else decode_atis(data, NMNIST)
    except NeuroError:
        return
    assert len(data) % 5 == 0
    assert (np.diff(ev["t"]) >= 0).all() and (ev["x"] < (64 if bs1 else 34)).all()


@settings(max_examples=500, suppress_health_check=[HealthCheck.function_scoped_fixture])  # fixture = a path
@given(st.integers(0, 23_404), st.binary(min_size=1, max_size=12))
def test_fuzz_corrupted_real_file(shared_data, cut, junk) -> None:
    raw = (shared_data / "nmnist" / "slayer_NMNISTsmall" / "1.bs2").read_bytes()
    for data in (raw[:cut], raw[:cut] + junk + raw[cut:]):
        try:
            ev = decode_atis(data, NMNIST)
        except NeuroError:
            continue
        assert len(ev) <= len(data) // 5
