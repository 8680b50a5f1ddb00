"""ES-ImageNet (synthetic files in the exact layout) and the ODG image -> events conversion."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from neuro.data import build_dataset
from neuro.data.es_imagenet import es_imagenet_events, es_imagenet_frames, read_es_npz
from neuro.data.odg import odg_convert, odg_frames
from neuro.errors import DataFormatError, NeuroError


def authors_loader(pos: np.ndarray, neg: np.ndarray, a: int, b: int) -> np.ndarray:
    """lyh983012/ES-imagenet-master, datasets/es_imagenet_new.py, __getitem__ (numpy in, [2, 8, 224, 224] out)."""
    datapos, dataneg = torch.tensor(pos.astype(np.float64)), torch.tensor(neg.astype(np.float64))
    dy, dx = (254 - b) // 2, (254 - a) // 2
    inp = torch.zeros([2, 8, 256, 256])
    inp[0, (datapos[:, 2] - 1).long(), (datapos[:, 0] + dx).long(), (datapos[:, 1] + dy).long()] = 1
    inp[1, (dataneg[:, 2] - 1).long(), (dataneg[:, 0] + dx).long(), (dataneg[:, 1] + dy).long()] = 1
    return inp[:, :, 16:240, 16:240].numpy()


def authors_traconvert(image_hwc: np.ndarray, thresh: float = 0.18) -> tuple[np.ndarray, np.ndarray, int, int]:
    """The per-image body of dataset_generator/traconvert.py (cv2 BGR read replaced by an RGB array)."""
    tracex, tracey = [1, 0, 2, 1, 0, 2, 1, 1, 2], [0, 2, 1, 0, 1, 2, 0, 1, 1]
    imagetorch = torch.from_numpy(np.transpose(image_hwc / 255.0, (2, 0, 1))).unsqueeze(0)
    a, b = imagetorch.shape[2], imagetorch.shape[3]
    if a > b:
        image = F.interpolate(imagetorch, size=(254, int(b * 254 / a)), mode="nearest")
        b, a = int(b * 254 / a), 254
    else:
        image = F.interpolate(imagetorch, size=(int(a * 254 / b), 254), mode="nearest")
        a, b = int(a * 254 / b), 254
    info, _ = torch.max(image[0], dim=0)
    s0 = (info.size()[0], info.size()[1])
    shape = (s0[0] + 4, s0[1] + 4)
    one, zero = torch.ones(shape, dtype=torch.uint8), torch.zeros(shape, dtype=torch.uint8)
    last = torch.zeros(shape, dtype=torch.float64)
    storep, storen = torch.ones([0, 3], dtype=torch.uint8), torch.ones([0, 3], dtype=torch.uint8)
    for t in range(9):
        new = torch.zeros(shape, dtype=torch.float64)
        x, y, x0, y0 = tracex[t], tracey[t], tracex[t - 1], tracey[t - 1]
        new[x:x + s0[0], y:y + s0[1]] = info
        if t != 0:
            diff = new - last
            maps = [torch.where(diff > thresh, one, zero), torch.where(diff < -thresh, one, zero)]
            for m in maps:
                m[x:x0, :] = 0
                m[x0:x, :] = 0
                m[x + s0[0]:x0 + s0[0], :] = 0
                m[x0 + s0[0]:x + s0[0], :] = 0
                m[:, y:y0] = 0
                m[:, y0:y] = 0
                m[:, y + s0[1]:y0 + s0[1]] = 0
                m[:, y0 + s0[1]:y + s0[1]] = 0
            stores = []
            for m in maps:
                st_ = torch.nonzero(m, as_tuple=False)
                good = (st_[:, 0] < 240) & (st_[:, 0] > 16) & (st_[:, 1] < 240) & (st_[:, 1] > 16)
                st_ = st_[good, :]
                stores.append(torch.cat((st_, torch.zeros([st_.size()[0], 1]).fill_(t)), 1))
            storep = torch.cat((storep, stores[0]), 0)
            storen = torch.cat((storen, stores[1]), 0)
        last = new
    return storep.numpy().astype(np.uint8), storen.numpy().astype(np.uint8), a, b


def write_es_imagenet(root, samples) -> None:
    """samples: (split, file, class, pos, neg, a, b)."""
    lines: dict[str, list[str]] = {"train": [], "val": []}
    for split, name, cls, pos, neg, a, b in samples:
        path = root / split / name
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(path, pos=pos, neg=neg)
        lines[split].append(f"{name} {cls} {a} {b}")
    for split, rows in lines.items():
        if rows:
            (root / f"{split}label.txt").write_text("\n".join(rows) + "\n")


def _random_sample(rng, a, b, n=300):
    def arr(k):
        return np.stack([rng.integers(17, min(240, a + 4), k), rng.integers(17, min(240, b + 4), k),
                         rng.integers(1, 9, k)], axis=1).astype(np.uint8)
    return arr(n), arr(n // 2)


def test_frames_equal_the_authors_loader(tmp_path) -> None:
    rng = np.random.default_rng(1)
    samples = []
    for k, (a, b) in enumerate([(254, 200), (180, 254), (254, 254)]):
        pos, neg = _random_sample(rng, a, b)
        samples.append(("train", f"class{k}/class{k}_1.npz", k * 100 + 7, pos, neg, a, b))
    samples.append(("val", "ILSVRC2012_val_00040551.npz", 349, *_random_sample(rng, 194, 254), 194, 254))
    write_es_imagenet(tmp_path, samples)
    train = build_dataset({"name": "es_imagenet", "root": str(tmp_path)}, "train")
    test = build_dataset({"name": "es_imagenet", "root": str(tmp_path)}, "test")
    assert (len(train), len(test), train.num_classes, train.input_shape) == (3, 1, 1000, (2, 224, 224))
    assert train.labels.tolist() == [7, 107, 207] and test.labels.tolist() == [349]
    for ds, rows in ((train, samples[:3]), (test, samples[3:])):
        for i, (_, _, _, pos, neg, a, b) in enumerate(rows):
            x, _ = ds[i]
            assert x.shape == (8, 2, 224, 224)  # time-major: the authors' [2, 8, 224, 224] with axes 0, 1 swapped
            np.testing.assert_array_equal(x.numpy().transpose(1, 0, 2, 3), authors_loader(pos, neg, a, b))


def test_axis_convention() -> None:
    pos = np.array([[20, 30, 1]], dtype=np.uint8)  # column 0 = row, column 1 = column
    neg = np.array([[100, 40, 8]], dtype=np.uint8)
    f = es_imagenet_frames(pos, neg, a=254, b=200)  # dx = 0 on rows, dy = 27 on columns
    assert np.argwhere(f).tolist() == [[0, 0, 20 - 16, 30 + 27 - 16], [1, 7, 100 - 16, 40 + 27 - 16]]
    ev = es_imagenet_events(pos, neg)
    assert ev["y"].tolist() == [20, 100] and ev["x"].tolist() == [30, 40]  # y = row, x = column (spikingjelly)
    assert ev["t"].tolist() == [1, 8] and ev["p"].tolist() == [1, 0]


def test_es_imagenet_errors(tmp_path) -> None:
    with pytest.raises(DataFormatError, match=r"trainlabel\.txt: ES-ImageNet label file not found"):
        build_dataset({"name": "es_imagenet", "root": str(tmp_path)}, "train")
    (tmp_path / "vallabel.txt").write_text("a.npz 3 194\n")
    with pytest.raises(DataFormatError, match=r"vallabel\.txt:1: expected '<file> <class> <a> <b>'"):
        build_dataset({"name": "es_imagenet", "root": str(tmp_path)}, "test")
    (tmp_path / "vallabel.txt").write_text("a.npz 1000 194 254\n")
    with pytest.raises(DataFormatError, match=r"vallabel\.txt:1: class 1000"):
        build_dataset({"name": "es_imagenet", "root": str(tmp_path)}, "test")
    bad_t = np.array([[20, 20, 9]], dtype=np.uint8)
    ok = np.zeros((0, 3), dtype=np.uint8)
    write_es_imagenet(tmp_path, [("val", "t.npz", 1, bad_t, ok, 254, 254),
                                 ("val", "far.npz", 2, np.array([[250, 20, 1]], dtype=np.uint8), ok, 100, 254)])
    ds = build_dataset({"name": "es_imagenet", "root": str(tmp_path)}, "test")
    with pytest.raises(DataFormatError, match=r"t\.npz: pos\[0\]: t=9 outside 1\.\.8"):
        ds[0]
    with pytest.raises(DataFormatError, match=r"far\.npz: pos\[0\] = \[250, 20, 1\] lands outside the 256x256 canvas"):
        ds[1]
    np.savez(tmp_path / "val" / "t.npz", pos=ok)
    with pytest.raises(DataFormatError, match=r"t\.npz: missing array\(s\) \['neg'\]"):
        ds[0]
    (tmp_path / "val" / "t.npz").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(DataFormatError, match=r"t\.npz: not a readable \.npz"):
        ds[0]


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=400))
def test_fuzz_npz_reader(tmp_path_factory, data) -> None:
    path = tmp_path_factory.mktemp("npz") / "s.npz"
    path.write_bytes(data)
    try:
        read_es_npz(path)
    except NeuroError:
        pass


def test_odg_matches_the_authors_generator() -> None:
    rng = np.random.default_rng(3)
    for h, w in ((60, 40), (37, 90)):
        img = rng.integers(0, 256, (h, w, 3)).astype(np.uint8)
        img[h // 3: h // 2] = 255  # a bright band: plenty of strong edges
        pos, neg, a, b = odg_convert(img)
        rpos, rneg, ra, rb = authors_traconvert(img.astype(np.float64))
        assert (a, b) == (ra, rb) and max(a, b) == 254
        np.testing.assert_array_equal(pos, rpos)
        np.testing.assert_array_equal(neg, rneg)
        assert len(pos) > 0 and len(neg) > 0 and set(np.unique(pos[:, 2])) <= set(range(1, 9))


def test_odg_golden_single_pixel() -> None:
    img = np.zeros((5, 5))
    img[2, 2] = 1.0
    on, off = odg_frames(img)
    # t=1 moves the pixel from (1+2, 0+2) to (0+2, 2+2): ON at the new place, OFF at the old one
    assert np.argwhere(on[0]).tolist() == [[2, 4]] and np.argwhere(off[0]).tolist() == [[3, 2]]
    assert on.sum() == off.sum() == 8  # every step moves it somewhere new
    flat_on, flat_off = odg_frames(np.full((5, 5), 0.1))
    assert flat_on.sum() == flat_off.sum() == 0  # below threshold: no events


def test_odg_images_dataset_and_es_imagenet_round_trip(tmp_path) -> None:
    rng = np.random.default_rng(5)
    images = {}
    for split in ("train", "test"):
        for cls in ("cat", "dog"):
            (tmp_path / "imgs" / split / cls).mkdir(parents=True)
            for k in range(2):
                img = rng.integers(0, 256, (24, 30, 3)).astype(np.uint8)
                Image.fromarray(img).save(tmp_path / "imgs" / split / cls / f"{k}.png")
                images[(split, cls, k)] = img
    ds = build_dataset({"name": "odg_images", "root": str(tmp_path / "imgs")}, "train")
    assert len(ds) == 4 and ds.num_classes == 2 and ds.input_shape == (2, 28, 34)
    on, off = odg_frames(images[("train", "dog", 1)])
    np.testing.assert_array_equal(ds[3][0].numpy(), np.stack([on, off], axis=1).astype(np.float32))
    es = build_dataset({"name": "odg_images", "root": str(tmp_path / "imgs"), "es_imagenet": True}, "test")
    pos, neg, a, b = odg_convert(images[("test", "cat", 0)])
    write_es_imagenet(tmp_path / "es", [("val", "x.npz", 0, pos, neg, a, b)])
    via_files = build_dataset({"name": "es_imagenet", "root": str(tmp_path / "es")}, "test")[0][0]
    np.testing.assert_array_equal(es[0][0].numpy(), via_files.numpy())
    assert es[0][0].shape == (8, 2, 224, 224)
