"""Frames and voxels: tonic parity, hand-computed counts, invariants, post-processing, options."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from neuro.data.binary import read_atis
from neuro.data.events import make_events
from neuro.data.frames import FrameSpec, center_crop, to_frames, to_voxels
from neuro.data.options import FrameOptions
from neuro.errors import ConfigError

SENSOR = (34, 34, 2)
SLICINGS = [dict(n_time_bins=10), dict(n_time_bins=3), dict(n_event_bins=7), dict(time_window=20_000.0),
            dict(time_window=30_000.0, include_incomplete=True), dict(event_count=1000),
            dict(event_count=777, include_incomplete=True)]


def test_golden_counts_by_time_bins() -> None:
    # t = 0, 10, 20, 30, 40 over 2 bins: width (40 - 0) // 2 = 20 -> bins [0, 20), [20, 40); t = 40 is dropped
    ev = make_events(x=[0, 1, 1, 2, 2], y=[0, 0, 1, 1, 1], t=[0, 10, 20, 30, 40], p=[0, 1, 1, 0, 0])
    f = to_frames(ev, (3, 2, 2), n_time_bins=2)
    assert f.shape == (2, 2, 2, 3)
    expected = np.zeros((2, 2, 2, 3), dtype=np.int64)
    expected[0, 0, 0, 0] = 1  # t=0  (p0, y0, x0)
    expected[0, 1, 0, 1] = 1  # t=10 (p1, y0, x1)
    expected[1, 1, 1, 1] = 1  # t=20 (p1, y1, x1)
    expected[1, 0, 1, 2] = 1  # t=30 (p0, y1, x2)
    np.testing.assert_array_equal(f, expected)


def test_golden_counts_by_event_count() -> None:
    ev = make_events(x=[0, 0, 0, 1, 1], y=0, t=[0, 1, 2, 3, 4], p=0)
    assert to_frames(ev, (2, 1, 1), event_count=2)[:, 0, 0].tolist() == [[2, 0], [1, 1]]
    assert to_frames(ev, (2, 1, 1), event_count=2, include_incomplete=True)[:, 0, 0].tolist() == [[2, 0], [1, 1],
                                                                                                    [0, 1]]


def test_frames_equal_tonic_on_real_recordings(shared_data) -> None:
    from tonic.functional.to_frame import to_frame_numpy
    from tonic.functional.to_voxel_grid import to_voxel_grid_numpy

    files = sorted((shared_data / "nmnist" / "slayer_NMNISTsmall").glob("*.bs2"))[::55]
    for f in files:
        ev = read_atis(f, SENSOR)
        tonic_ev = ev.astype([("x", int), ("y", int), ("t", int), ("p", int)])
        for kw in SLICINGS:
            ours = to_frames(ev, SENSOR, **kw)
            theirs = to_frame_numpy(tonic_ev.copy(), SENSOR, **kw)
            assert ours.shape == theirs.shape, (f.name, kw)
            np.testing.assert_array_equal(ours, theirs)
        np.testing.assert_allclose(to_voxels(ev, SENSOR, 6), to_voxel_grid_numpy(tonic_ev.copy(), SENSOR, 6),
                                   rtol=1e-12, atol=1e-12)


event_lists = st.lists(st.tuples(st.integers(0, 4), st.integers(0, 3), st.integers(0, 1), st.integers(0, 500)),
                       min_size=1, max_size=80)


@settings(max_examples=300)
@given(event_lists, st.sampled_from([*SLICINGS[:2], dict(n_event_bins=3), dict(time_window=37.0), dict(time_window=5.0),
                                     dict(event_count=5),
                                     dict(event_count=4, include_incomplete=True)]))
def test_frames_equal_tonic_on_random_streams(rows, kw) -> None:
    from tonic.functional.to_frame import to_frame_numpy

    rows = sorted(rows, key=lambda r: r[3])
    ev = make_events(x=[r[0] for r in rows], y=[r[1] for r in rows], t=[r[3] for r in rows], p=[r[2] for r in rows])
    ours = to_frames(ev, (5, 4, 2), **kw)
    theirs = to_frame_numpy(ev.astype([("x", int), ("y", int), ("t", int), ("p", int)]), (5, 4, 2), **kw)
    assert ours.shape == theirs.shape
    np.testing.assert_array_equal(ours, theirs)
    assert ours.min() >= 0 and ours.sum() <= len(ev)  # framing never invents events


@settings(max_examples=300)
@given(event_lists, st.sampled_from([0.7, 2.3, 3.7, 11.1]), st.booleans())
def test_fractional_time_windows_put_each_event_in_at_most_one_bin(rows, window, incomplete) -> None:
    """tonic builds window edges as ``i * w + t0`` and can count a boundary event twice when ``w`` is not an
    integer (e.g. w = 3.7, t0 = 1, t = 112 lands in windows 29 and 30); neuro bins by ``(t - t0) // w`` and never
    invents events."""
    rows = sorted(rows, key=lambda r: r[3])
    ev = make_events(x=[r[0] for r in rows], y=[r[1] for r in rows], t=[r[3] for r in rows], p=[r[2] for r in rows])
    frames = to_frames(ev, (5, 4, 2), time_window=window, include_incomplete=incomplete)
    t = ev["t"].astype(np.float64)
    expected = np.floor((t - t[0]) / window)
    kept = expected < frames.shape[0]
    assert frames.sum() == kept.sum() <= len(ev)


@settings(max_examples=200)
@given(event_lists, st.integers(1, 12))
def test_event_bins_keep_all_but_the_remainder(rows, n) -> None:
    rows = sorted(rows, key=lambda r: r[3])
    ev = make_events(x=[r[0] for r in rows], y=[r[1] for r in rows], t=[r[3] for r in rows], p=[r[2] for r in rows])
    f = to_frames(ev, (5, 4, 2), n_event_bins=n)
    assert f.shape[0] == n and f.sum() == (len(ev) // n) * n


def test_crop_polarity_binarize_compose() -> None:
    rng = np.random.default_rng(0)
    ev = make_events(x=rng.integers(0, 34, 3000), y=rng.integers(0, 34, 3000), t=np.sort(rng.integers(0, 10**5, 3000)),
                     p=rng.integers(0, 2, 3000))
    full = to_frames(ev, SENSOR, n_time_bins=50)
    spec = FrameSpec(n_time_bins=50, crop=(16, 16), polarity=0, binarize=True)
    out = spec.apply(ev, SENSOR)
    assert out.shape == (50, 1, 16, 16) == (50, *spec.output_shape(SENSOR))
    np.testing.assert_array_equal(out, (full[:, 0:1, 9:25, 9:25] > 0).astype(out.dtype))  # (34 - 16) // 2 = 9
    assert set(np.unique(out)) <= {0, 1}


def test_center_crop_offsets() -> None:
    a = np.arange(5 * 6).reshape(1, 5, 6)
    assert center_crop(a, (3, 2))[0].tolist() == [[8, 9], [14, 15], [20, 21]]


def test_frame_options_are_validated() -> None:
    with pytest.raises(ConfigError, match="exactly one"):
        FrameOptions()
    with pytest.raises(ConfigError, match="exactly one"):
        FrameOptions(n_time_bins=3, event_count=10)
    with pytest.raises(ConfigError, match="voxels"):
        FrameOptions(event_count=10, representation="voxels")
    with pytest.raises(ConfigError, match="crop"):
        FrameOptions(n_time_bins=3, crop=(16,))
    with pytest.raises(ConfigError, match="larger than the sensor"):
        FrameSpec(n_time_bins=3, crop=(40, 40)).output_shape(SENSOR)
    with pytest.raises(ConfigError, match="polarity"):
        FrameSpec(n_time_bins=3, polarity=2).output_shape(SENSOR)


def test_voxels_golden() -> None:
    # two ON events at t=0 and t=10 over 2 bins: ts = 0 and 2 -> left bin 0 gets 1, t=10 falls off the end
    ev = make_events(x=[0, 1], y=0, t=[0, 10], p=[1, 0])
    v = to_voxels(ev, (2, 1, 2), 2)
    assert v[:, 0, 0].tolist() == [[1.0, 0.0], [0.0, 0.0]]
    ev = make_events(x=[0, 0, 1], y=0, t=[0, 5, 20], p=[1, 0, 1])  # ts = 0, 0.5, 2 (3rd dropped)
    v = to_voxels(ev, (2, 1, 2), 2)
    assert v[:, 0, 0].tolist() == [[1.0 - 0.5, 0.0], [-0.5, 0.0]]


def test_degenerate_streams() -> None:
    one = make_events(x=[1], y=[1], t=[50], p=[1])
    assert to_voxels(one, (3, 3, 2), 4)[0, 0, 1, 1] == 1.0 and to_voxels(one, (3, 3, 2), 4).sum() == 1.0
    empty = make_events(x=[], y=[], t=[], p=[])
    assert to_frames(empty, (3, 3, 2), n_time_bins=4).shape == (4, 2, 3, 3)
    assert to_frames(empty, (3, 3, 2), event_count=10).sum() == 0
    assert to_voxels(empty, (3, 3, 2), 2).shape == (2, 1, 3, 3)
    same_t = make_events(x=[0, 1], y=0, t=[7, 7], p=0)
    assert to_frames(same_t, (2, 1, 1), n_time_bins=3).sum() == 0  # zero-width bins hold nothing (as tonic)
