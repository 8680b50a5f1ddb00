"""N-MNIST: the shipped archive, the official layout, SLAYER lists, event options, LSM options, errors."""

from __future__ import annotations

import hashlib
import zipfile

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from neuro.data import build_dataset, collate_time_major
from neuro.data import nmnist as nmnist_module
from neuro.data.binary import read_atis
from neuro.data.catalog import load_catalog
from neuro.data.frames import to_frames
from neuro.errors import ConfigError, DataFormatError
from tests.conftest import REPO
from tests.neuro.data.conftest import SHIPPED, nmnist_small_rows

ARCHIVE = SHIPPED / "nmnist_small.tar.xz"


def test_shipped_archive_matches_card_and_catalog() -> None:
    blob = ARCHIVE.read_bytes()
    digest = hashlib.sha256(blob).hexdigest()
    spec = load_catalog()["nmnist_small"].files[0]
    assert digest == spec.sha256 and len(blob) == spec.size
    card = (SHIPPED / "README.md").read_text()
    assert digest in card and f"{len(blob):,}" in card
    assert len(blob) < 10 * 1024 * 1024


def test_quickstart_table_from_the_repository_root(monkeypatch, shipped_work) -> None:
    monkeypatch.chdir(REPO)  # relative roots resolve against the current directory
    table = {"name": "nmnist", "root": "datasets/nmnist_small", "n_time_bins": 10, "cache_dir": shipped_work}
    train, test = build_dataset(table, "train"), build_dataset(table, "test")
    assert (len(train), len(test)) == (750, 100)
    assert train.num_classes == 10 and train.input_shape == (2, 34, 34)
    assert np.bincount(train.labels).tolist() == [75] * 10
    assert np.bincount(test.labels, minlength=10).tolist() == [8, 14, 8, 11, 14, 7, 10, 15, 2, 11]
    x, y = train[0]
    assert x.dtype == torch.float32 and x.shape == (10, 2, 34, 34) and isinstance(y, int)
    xb, yb = next(iter(DataLoader(train, batch_size=4, collate_fn=collate_time_major)))
    assert xb.shape == (10, 4, 2, 34, 34) and yb.dtype == torch.long


def test_shipped_files_are_the_real_recordings(shared_data, shipped_work) -> None:
    ds = build_dataset({"name": "nmnist", "root": str(SHIPPED), "n_time_bins": 10, "cache_dir": shipped_work}, "train")
    sha = {(r["split"], int(r["file"].split(".")[0])): r for r in nmnist_small_rows(shared_data)}
    for i in range(0, len(ds), 37):
        path = ds.source.files[i]
        row = sha[("train", int(path.stem))]
        assert hashlib.sha256(path.read_bytes()).hexdigest() == row["sha256"]
        assert int(path.parent.name) == int(row["label"]) == ds.labels[i]
        expected = to_frames(read_atis(shared_data / "nmnist" / "slayer_NMNISTsmall" / row["file"]), (34, 34, 2),
                             n_time_bins=10)
        np.testing.assert_array_equal(ds[i][0].numpy(), expected)


def test_archive_unpacked_once_and_frames_cached(monkeypatch, shipped_work) -> None:
    table = {"name": "nmnist", "root": str(SHIPPED), "n_time_bins": 5, "cache_dir": shipped_work}
    first = build_dataset(table, "test")
    assert first.cache is not None and first.cache.built
    assert first.source.files[0].is_relative_to(shipped_work)

    def refuse(*args, **kwargs):
        raise AssertionError("archive unpacked twice")

    monkeypatch.setattr("neuro.data.archives.safe_extract", refuse)
    again = build_dataset(table, "test")
    assert not again.cache.built and again.cache.path == first.cache.path
    other = build_dataset({**table, "n_time_bins": 6}, "test")
    assert other.cache.built and other.cache.path != first.cache.path and other[0][0].shape[0] == 6
    nocache = build_dataset({**table, "cache": False}, "test")
    assert nocache.cache is None
    np.testing.assert_array_equal(nocache[3][0].numpy(), again[3][0].numpy())


def _official_zip(shared, tmp_path, split_dir: str, ids: list[tuple[int, int]]):
    root = tmp_path / "nmnist"
    root.mkdir()
    with zipfile.ZipFile(root / f"{split_dir.lower()}.zip", "w") as zf:
        for ident, label in ids:
            data = (shared / "nmnist" / "slayer_NMNISTsmall" / f"{ident}.bs2").read_bytes()
            zf.writestr(f"{split_dir}/{label}/{ident:05d}.bin", data)
    return root


def test_official_zip_layout(shared_data, tmp_path) -> None:
    rows = [r for r in nmnist_small_rows(shared_data) if r["split"] == "test"][:12]
    ids = [(int(r["file"].split(".")[0]), int(r["label"])) for r in rows]
    root = _official_zip(shared_data, tmp_path, "Test", ids)
    ds = build_dataset({"name": "nmnist", "root": str(root), "event_count": 1000}, "test")
    assert sorted(ds.labels.tolist()) == sorted(label for _, label in ids)
    with pytest.raises(DataFormatError, match="no Train/ folder"):
        build_dataset({"name": "nmnist", "root": str(root), "event_count": 1000}, "train")


def test_slayer_list_layout_matches_labels(shared_data) -> None:
    table = {"name": "nmnist", "root": str(shared_data / "nmnist" / "slayer_NMNISTsmall"), "train_list": "train1K.txt",
             "test_list": "test100.txt", "n_time_bins": 4, "cache": False}
    rows = nmnist_small_rows(shared_data)
    for split, n in (("train", 1000), ("test", 100)):
        ds = build_dataset(table, split)
        assert len(ds) == n
        expected = {r["file"]: int(r["label"]) for r in rows if r["split"] == split}
        assert {f.name: int(y) for f, y in zip(ds.source.files, ds.labels, strict=True)} == expected


def test_saccade_options_match_tonic(shared_data) -> None:
    from tonic.datasets.nmnist import NMNIST, stabilize
    from tonic.io import read_mnist_file

    for name in ("1.bs2", "60001.bs2", "517.bs2"):
        path = shared_data / "nmnist" / "slayer_NMNISTsmall" / name
        ev = read_atis(path)
        theirs = read_mnist_file(str(path), dtype=NMNIST.dtype)
        first = nmnist_module.first_saccade(ev)
        assert first["t"].tolist() == theirs[theirs["t"] < 1e5]["t"].tolist() and first["t"].max() < 100_000
        ours, ref = nmnist_module.stabilize(ev), stabilize(theirs.copy())
        for field in "xytp":
            np.testing.assert_array_equal(ours[field], ref[field])
        assert ours["x"].min() >= 0 and ours["x"].max() <= 33


def test_lsm_input_options(shared_data) -> None:
    table = {"name": "nmnist", "root": str(shared_data / "nmnist" / "slayer_NMNISTsmall"), "test_list": "test100.txt",
             "n_time_bins": 50, "crop": [16, 16], "polarity": 0, "binarize": True}
    ds = build_dataset(table, "test")
    assert ds.input_shape == (1, 16, 16)
    x, _ = ds[5]
    full = to_frames(read_atis(ds.source.files[5]), (34, 34, 2), n_time_bins=50)
    np.testing.assert_array_equal(x.numpy(), (full[:, :1, 9:25, 9:25] > 0).astype(np.float32))
    assert ds.cache.path.stat().st_size > 0


def test_config_errors(shared_data, tmp_path) -> None:
    with pytest.raises(ConfigError, match=r"data\.frames_per_sample"):
        build_dataset({"name": "nmnist", "frames_per_sample": 3}, "train")
    with pytest.raises(ConfigError, match="exactly one"):
        build_dataset({"name": "nmnist", "root": str(SHIPPED)}, "train")
    with pytest.raises(ConfigError, match="split"):
        build_dataset({"name": "nmnist", "root": str(SHIPPED), "n_time_bins": 3}, "validation")
    with pytest.raises(DataFormatError, match="neuro data fetch nmnist"):
        build_dataset({"name": "nmnist", "root": str(tmp_path / "absent"), "n_time_bins": 3}, "train")
    (tmp_path / "list.txt").write_text("#sample #class\n1\t5\n2\t12\n")
    with pytest.raises(DataFormatError, match=r"list\.txt: sample '2': class 12 outside 0\.\.9"):
        build_dataset({"name": "nmnist", "root": str(shared_data / "nmnist" / "slayer_NMNISTsmall"),
                       "train_list": str(tmp_path / "list.txt"), "n_time_bins": 3}, "train")
    (tmp_path / "list.txt").write_text("99999 3\n")
    with pytest.raises(DataFormatError, match="no file"):
        build_dataset({"name": "nmnist", "root": str(shared_data / "nmnist" / "slayer_NMNISTsmall"),
                       "train_list": str(tmp_path / "list.txt"), "n_time_bins": 3}, "train")
    with pytest.raises(DataFormatError, match="label file not found"):
        build_dataset({"name": "nmnist", "root": str(tmp_path), "train_list": "missing.txt", "n_time_bins": 3},
                      "train")


def test_malicious_archive_in_root_is_refused(tmp_path) -> None:
    root = tmp_path / "evil"
    root.mkdir()
    with zipfile.ZipFile(root / "train.zip", "w") as zf:
        zf.writestr("Train/1/00001.bin", b"\x00" * 5)
        zf.writestr("../escaped.bin", b"x")
    with pytest.raises(DataFormatError, match=r"refusing member '\.\./escaped\.bin'"):
        build_dataset({"name": "nmnist", "root": str(root), "n_time_bins": 2}, "train")
    assert not (tmp_path / "escaped.bin").exists()
