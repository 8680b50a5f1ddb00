"""DVS128 Gesture (real .bs2 clips, synthetic tonic-release layout) and Nordland (real frames)."""

from __future__ import annotations

import io
import shutil
import tarfile

import numpy as np
import pytest
from PIL import Image

from neuro.data import build_dataset
from neuro.data.dvs_gesture import CLASSES
from neuro.data.nordland import patch_normalise, preprocess_place_image
from neuro.errors import DataFormatError
from tests.neuro.data.conftest import manifest_stats


def test_real_gesture_clips_through_a_list(shared_data, tmp_path) -> None:
    clips = shared_data / "dvs_gesture" / "slayer_bs2"
    (tmp_path / "train.txt").write_text("#sample #class\n" + "".join(f"{k}\t{k - 1}\n" for k in range(1, 11)))
    ds = build_dataset({"name": "dvs_gesture", "root": str(clips), "train_list": str(tmp_path / "train.txt"),
                        "n_time_bins": 20}, "train")
    assert len(ds) == 10 and ds.num_classes == 11 == len(CLASSES) and ds.input_shape == (2, 128, 128)
    assert ds.labels.tolist() == list(range(10))  # file k = class k (1 hand_clapping ... 10 air_guitar)
    stats = manifest_stats(shared_data)
    for i in (0, 4, 9):
        ev = ds.source.events(i)
        assert len(ev) == stats[f"dvs_gesture/slayer_bs2/{i + 1}.bs2"]["n"]
        x, y = ds[i]
        width = (int(ev["t"][-1]) - int(ev["t"][0])) // 20
        kept = int((ev["t"] < ev["t"][0] + 20 * width).sum())
        assert x.shape == (20, 2, 128, 128) and y == i and int(x.sum()) == kept


def _gesture_npy(rng, n: int) -> np.ndarray:
    t = np.sort(rng.uniform(0, 6000, n))  # ms
    return np.stack([rng.integers(0, 128, n), rng.integers(0, 128, n), rng.integers(0, 2, n), t], axis=1)


def test_tonic_release_layout_and_archive(tmp_path) -> None:
    rng = np.random.default_rng(0)
    arrays = {f"ibmGestureTrain/user0{u}_led/{c}.npy": _gesture_npy(rng, 500) for u in (1, 2) for c in (0, 3, 10)}
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, arr in arrays.items():
            data = io.BytesIO()
            np.save(data, arr)
            info = tarfile.TarInfo(name)
            info.size = len(data.getvalue())
            tf.addfile(info, io.BytesIO(data.getvalue()))
    (tmp_path / "gesture").mkdir()
    (tmp_path / "gesture" / "ibmGestureTrain.tar.gz").write_bytes(buf.getvalue())
    ds = build_dataset({"name": "dvs_gesture", "root": str(tmp_path / "gesture"), "time_window": 1000_000.0,
                        "include_incomplete": True}, "train")
    assert sorted(ds.labels.tolist()) == [0, 0, 3, 3, 10, 10]
    i = next(k for k, f in enumerate(ds.source.files) if f.parent.name == "user02_led" and f.stem == "10")
    ev, arr = ds.source.events(i), arrays["ibmGestureTrain/user02_led/10.npy"]
    np.testing.assert_array_equal(ev["t"], np.round(arr[:, 3] * 1000).astype(np.int64))  # ms -> µs
    np.testing.assert_array_equal(ev["x"], arr[:, 0].astype(int))
    assert ds[i][0].shape[0] == 6 and int(ds[i][0].sum()) == 500  # 6 s in 1 s windows, incomplete one kept


def test_gesture_errors(tmp_path) -> None:
    folder = tmp_path / "g" / "ibmGestureTest" / "user24_lab"
    folder.mkdir(parents=True)
    np.save(folder / "2.npy", np.array([[128.0, 3, 1, 0.5]]))
    ds = build_dataset({"name": "dvs_gesture", "root": str(tmp_path / "g"), "n_time_bins": 2, "cache": False},
                       "test")
    with pytest.raises(DataFormatError, match=r"2\.npy: event 0: x=128 outside the sensor"):
        ds[0]
    np.save(folder / "2.npy", np.zeros((3, 5)))
    with pytest.raises(DataFormatError, match=r"expected a numeric \(N, 4\) array"):
        ds[0]
    np.save(folder / "11.npy", np.zeros((3, 4)))
    with pytest.raises(DataFormatError, match=r"11\.npy: file name must be the class number 0\.\.10"):
        build_dataset({"name": "dvs_gesture", "root": str(tmp_path / "g"), "n_time_bins": 2}, "test")
    with pytest.raises(DataFormatError, match="neuro data fetch dvs_gesture"):
        build_dataset({"name": "dvs_gesture", "root": str(tmp_path / "g"), "n_time_bins": 2}, "train")


def _seasons(shared, tmp_path):
    src = shared / "nordland"
    (tmp_path / "spring").mkdir()
    (tmp_path / "summer").mkdir()
    shutil.copy(src / "vprtempo_images-00202.png", tmp_path / "spring" / "images-00000.png")
    shutil.copy(src / "vprtempo_images-07028.png", tmp_path / "spring" / "images-00001.png")
    shutil.copy(src / "vprtempo_images-00202.png", tmp_path / "summer" / "images-00000.png")
    shutil.copy(src / "vprtempo_1_BasicDemo_summer.png", tmp_path / "summer" / "images-00001.png")
    return {"name": "nordland", "root": str(tmp_path), "reference": ["spring"], "query": ["summer"], "skip": 1}


def test_nordland_real_frames(shared_data, tmp_path) -> None:
    table = _seasons(shared_data, tmp_path)
    ref, query = build_dataset(table, "train"), build_dataset(table, "test")
    assert len(ref) == len(query) == 2 and ref.num_classes == 2 and ref.input_shape == (1, 28, 28)
    x, y = query[1]
    assert x.shape == (1, 1, 28, 28) and y == 1 and 0.0 <= float(x.min()) and float(x.max()) <= 1.0
    # the summer frame of place 1 is closer to place 1's spring frame than to place 0's
    d = [float((query[1][0] - ref[k][0]).abs().mean()) for k in range(2)]
    assert d[1] < d[0]
    # the pipeline step by step: bilinear 28x28, grey, 7x7 patch normalisation, uint8, / 255
    img = np.asarray(Image.open(shared_data / "nordland" / "vprtempo_1_BasicDemo_summer.png").convert("RGB"))
    assert img.shape == (360, 640, 3)
    np.testing.assert_array_equal(x.numpy()[0, 0], preprocess_place_image(img, (28, 28), 7) / np.float32(255))


def test_patch_normalise_against_a_direct_loop() -> None:
    rng = np.random.default_rng(2)
    img = rng.integers(0, 256, (9, 11)).astype(np.float64)
    img[:, 0] = 7.0
    out = patch_normalise(img, 5)
    ref = np.zeros_like(img)
    for r in range(9):
        for c in range(11):
            win = img[max(0, r - 2): r + 3, max(0, c - 2): c + 3]
            sd = win.std()
            ref[r, c] = 0.0 if sd == 0 else np.clip((img[r, c] - win.mean()) / sd, -1, 1)
    np.testing.assert_allclose(out, ref, rtol=0, atol=1e-12)


def test_nordland_sampling_options(tmp_path) -> None:
    for season in ("spring", "fall", "summer"):
        (tmp_path / season).mkdir()
        for k in range(20):
            Image.fromarray(np.full((8, 8, 3), k * 10, np.uint8)).save(tmp_path / season / f"images-{k:05d}.png")
    base = {"name": "nordland", "root": str(tmp_path), "size": [4, 4], "patch": 3}
    ref = build_dataset(base, "train")  # spring + fall, every 8th frame: 0, 8, 16
    assert [f.name for f in ref.source.files] == ["images-00000.png", "images-00008.png", "images-00016.png"] * 2
    assert ref.labels.tolist() == [0, 1, 2, 0, 1, 2]
    q = build_dataset({**base, "offset": 1, "num_places": 1}, "test")
    assert [f.name for f in q.source.files] == ["images-00008.png"] and q.labels.tolist() == [0]
    (tmp_path / "names.txt").write_text("images-00003.png\nimages-00004.png\nimages-00005.png\nimages-00019.png\n")
    q = build_dataset({**base, "frame_list": "names.txt", "skip": 2}, "test")
    assert [f.name for f in q.source.files] == ["images-00003.png", "images-00005.png"]
    with pytest.raises(DataFormatError, match="winter: image folder not found"):
        build_dataset({**base, "query": ["winter"]}, "test")
    (tmp_path / "summer" / "images-00000.png").write_bytes(b"not a png")
    with pytest.raises(DataFormatError, match=r"images-00000\.png: not a readable image"):
        build_dataset({**base, "cache": False}, "test")[0]
