"""N-TIDIGITS: a synthetic HDF5 in the exact layout, label maps, binning against the reference, errors."""

from __future__ import annotations

import shutil

import h5py
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from neuro.data import build_dataset
from neuro.data.binary import read_bs1
from neuro.data.events import make_events
from neuro.data.ntidigits import NTidigitsFile, bin_audio, label_to_class
from neuro.errors import ConfigError, DataFormatError, NeuroError

UTTERANCES = {  # label -> (addresses, timestamps in seconds)
    "man-ab-o": ([3, 10, 63, 3], [0.0, 0.0125, 0.25, 0.5]),
    "woman-cd-z": ([0, 1, 2], [0.001, 0.002, 0.9]),
    "boy-ef-7": ([5, 5, 6, 7, 8], [0.1, 0.1, 0.2, 0.3, 1.0]),
    "girl-gh-12z": ([1, 2], [0.0, 0.1]),  # a digit sequence: not a class
}


def write_ntidigits(path, utterances=UTTERANCES, splits=("train", "test"), skip_key: str = "") -> None:
    with h5py.File(path, "w") as f:
        for split in splits:
            f.create_dataset(f"{split}_labels", data=np.array([k.encode() for k in utterances]))
            for kind in ("addresses", "timestamps"):
                key = f"{split}_{kind}"
                if key == skip_key:
                    continue
                g = f.create_group(key)
                for label, (addr, ts) in utterances.items():
                    g.create_dataset(label, data=np.array(addr if kind == "addresses" else ts,
                                                          dtype=np.int16 if kind == "addresses" else np.float64))


def rec_array_to_spike_train(addr: np.ndarray, ts_seconds: np.ndarray, n_steps: int, dt_ms: float = 1.0):
    """MemristorLSM's LSM-NTIDIGITS/lsm_sim_gaussian.py preprocessing (+ its collate's zero padding)."""
    ts = ts_seconds * 1000.0 / dt_ms
    duration = int(np.ceil(np.max(ts)) + 1)
    spike_train = torch.zeros((64, duration))
    spike_train[torch.as_tensor(addr, dtype=torch.long), torch.as_tensor(ts.astype(int), dtype=torch.long)] = 1
    chunks = spike_train.unsqueeze(1).chunk(n_steps, dim=2)
    fixed = torch.cat([c.sum(2) for c in chunks], dim=1)
    fixed[fixed > 0] = 1
    out = torch.zeros(64, n_steps)
    out[:, : fixed.shape[1]] = fixed
    return out.T.numpy()  # (T, 64)


@pytest.fixture
def h5(tmp_path):
    path = tmp_path / "n-tidigits.hdf5"
    write_ntidigits(path)
    return path


def test_single_digits_label_maps_and_units(h5) -> None:
    table = {"name": "ntidigits", "root": str(h5.parent)}
    ds = build_dataset(table, "train")
    assert len(ds) == 3 and ds.num_classes == 11 and ds.input_shape == (64,)
    assert ds.labels.tolist() == [10, 0, 7]  # default z0_o10 (MemristorLSM / ebdataset): o -> 10, z -> 0
    assert build_dataset({**table, "label_map": "o0_z10"}, "test").labels.tolist() == [0, 10, 7]  # tonic's map
    ev = ds.source.events(2)
    assert ev["t"].tolist() == [100_000, 100_000, 200_000, 300_000, 1_000_000]  # seconds -> µs
    assert ev["x"].tolist() == [5, 5, 6, 7, 8] and set(ev["p"].tolist()) == {0}
    x, y = ds[2]
    assert x.shape == (129, 64) and y == 7 and set(torch.unique(x).tolist()) <= {0.0, 1.0}
    np.testing.assert_array_equal(x.numpy(), rec_array_to_spike_train(np.array([5, 5, 6, 7, 8]),
                                                                      np.array([0.1, 0.1, 0.2, 0.3, 1.0]), 129))


def test_label_map_table() -> None:
    assert [label_to_class(c, "z0_o10") for c in "z123456789o"] == list(range(11))
    assert [label_to_class(c, "o0_z10") for c in "o123456789z"] == list(range(11))
    with pytest.raises(DataFormatError):
        label_to_class("12", "z0_o10")


def test_same_events_as_tonic(h5, tmp_path) -> None:
    from tonic.datasets import NTIDIGITS18

    (tmp_path / "NTIDIGITS18").mkdir()
    shutil.copy(h5, tmp_path / "NTIDIGITS18" / "n-tidigits.hdf5")  # where tonic looks (it never downloads here)
    theirs = NTIDIGITS18(str(tmp_path), train=True, single_digits=True)
    ours = NTidigitsFile(h5, "train")
    single = [i for i in range(len(ours.keys)) if len(ours.digits(i)) == 1]
    assert len(theirs) == len(single) == 3
    for k, i in enumerate(single):
        ev_t, label_t = theirs[k]
        ev = ours.events(i)
        np.testing.assert_array_equal(ev["x"], ev_t["x"])
        assert np.abs(ev["t"] - ev_t["t"]).max() <= 1  # tonic truncates seconds * 1e6, neuro rounds
        assert label_to_class(ours.digits(i), "o0_z10") == label_t
    theirs.data.close()


def test_real_bs1_utterance_binning(shared_data, tmp_path) -> None:
    src = shared_data / "ntidigits" / "slayer_NTIDIGITS_1.bs1"
    ev = read_bs1(src, 64)
    ours = bin_audio(ev, 129, 1000)
    ref = rec_array_to_spike_train(ev["x"].astype(np.int64), ev["t"] / 1e6, 129)
    np.testing.assert_array_equal(ours, ref)
    assert ours.sum() > 0 and ours[-1].sum() == 0  # 1081 raster bins in chunks of 9 -> 121 chunks, rest padded
    shutil.copy(src, tmp_path / "7.bs1")
    (tmp_path / "list.txt").write_text("#sample #class\n7 4\n")
    ds = build_dataset({"name": "ntidigits", "root": str(tmp_path), "train_list": "list.txt"}, "train")
    np.testing.assert_array_equal(ds[0][0].numpy(), ours)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 63), st.integers(0, 2_000_000)), min_size=1, max_size=60),
       st.integers(1, 140))
def test_chunk_binning_matches_reference(rows, n_steps) -> None:
    rows = sorted(rows, key=lambda r: r[1])
    ev = make_events(x=[r[0] for r in rows], y=0, t=[r[1] for r in rows], p=0)
    ref = rec_array_to_spike_train(ev["x"].astype(np.int64), ev["t"] / 1e6, n_steps)
    np.testing.assert_array_equal(bin_audio(ev, n_steps, 1000), ref)


def test_window_binning_golden() -> None:
    ev = make_events(x=[1, 1, 2, 3], y=0, t=[0, 999, 1000, 5000], p=0)
    out = bin_audio(ev, 3, 1000, "window", binarize=False)
    assert out[:, :4].tolist() == [[0, 2, 0, 0], [0, 0, 1, 0], [0, 0, 0, 0]]  # t=5000 is past 3 bins of 1 ms


def test_errors_name_file_and_key(tmp_path) -> None:
    path = tmp_path / "n-tidigits.hdf5"
    write_ntidigits(path, skip_key="test_addresses")
    with pytest.raises(DataFormatError, match=r"n-tidigits\.hdf5: missing key 'test_addresses'"):
        build_dataset({"name": "ntidigits", "root": str(tmp_path)}, "test")
    for k, (bad, msg) in enumerate(((([3, 64], [0.0, 0.1]), r"address\[1\] = 64 outside channels"),
                                    (([3, 4], [0.2, 0.1]), r"timestamp\[1\] goes backwards"),
                                    (([3, 4, 5], [0.1, 0.2]), r"\(3,\) and timestamps \(2,\) must be equal 1-D"),
                                    (([3], [-1.0]), r"timestamp\[0\] = -1.0 s is negative or not finite"))):
        (tmp_path / str(k)).mkdir()
        write_ntidigits(tmp_path / str(k) / "n-tidigits.hdf5", {"spk-x-5": bad})
        ds = build_dataset({"name": "ntidigits", "root": str(tmp_path / str(k)), "cache": False}, "train")
        with pytest.raises(DataFormatError, match=r"n-tidigits\.hdf5: sample 'spk-x-5': .*" + msg):
            ds[0]
    with pytest.raises(DataFormatError, match="neuro data fetch ntidigits"):
        build_dataset({"name": "ntidigits", "root": str(tmp_path / "nowhere")}, "train")
    with pytest.raises(ConfigError, match="single_digits"):
        build_dataset({"name": "ntidigits", "single_digits": False}, "train")
    with pytest.raises(ConfigError, match=r"data\.label_map"):
        build_dataset({"name": "ntidigits", "label_map": "z0o10"}, "train")


@settings(max_examples=60, deadline=None)
@given(st.binary(min_size=0, max_size=3000))
def test_fuzz_hdf5_reader(tmp_path_factory, data) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "n-tidigits.hdf5"
    path.write_bytes(b"\x89HDF\r\n\x1a\n" + data if data[:1] == b"\x00" else data)
    try:
        f = NTidigitsFile(path, "train")
        for i in range(len(f.keys)):
            f.events(i)
    except NeuroError:
        pass
