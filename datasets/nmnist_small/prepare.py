"""Build nmnist_small.tar.xz: a class-balanced N-MNIST subset in the original Train/<digit>/<n>.bin layout.

Run by path from the repository root (stdlib only):

    python datasets/nmnist_small/prepare.py --source ../shared/data/nmnist/slayer_NMNISTsmall

The source is SLAYER's NMNISTsmall folder (1000 training + 100 test samples of the original N-MNIST,
byte-identical ``.bin`` records stored as ``<id>.bs2``, labels in ``labels.csv``). Training ids 1..1000 are
MNIST training indices; test ids 60001..60100 are MNIST test indices 1..100. Files are written as
``Train/<digit>/<index:05d>.bin`` and ``Test/<digit>/<index:05d>.bin``. The tar is deterministic (sorted
names, zero mtimes and owners) and xz-compressed with a 5-byte delta filter (one event = 5 bytes), which
``tar -xJf`` and Python's ``tarfile`` read as usual. Prints the archive's size and sha256.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import lzma
import tarfile
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent


def members(source: Path, per_class: int) -> list[tuple[str, Path]]:
    rows = list(csv.DictReader((source / "labels.csv").open()))
    by_class: dict[tuple[str, str], list[int]] = defaultdict(list)
    for r in rows:
        by_class[(r["split"], r["label"])].append(int(r["file"].split(".")[0]))
    out = []
    for (split, label), ids in sorted(by_class.items()):
        ids.sort()
        if split == "train":
            ids = ids[:per_class]
        for i in ids:
            index = i if split == "train" else i - 60000
            out.append((f"{'Train' if split == 'train' else 'Test'}/{label}/{index:05d}.bin", source / f"{i}.bs2"))
    return sorted(out)


def build(source: Path, per_class: int, out: Path) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        dirs = sorted({str(Path(name).parent) for name, _ in members(source, per_class)} | {"Train", "Test"})
        for d in dirs:
            info = tarfile.TarInfo(d)
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, 0
            tf.addfile(info)
        for name, path in members(source, per_class):
            data = path.read_bytes()
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            tf.addfile(info, io.BytesIO(data))
    filters = [{"id": lzma.FILTER_DELTA, "dist": 5}, {"id": lzma.FILTER_LZMA2, "preset": 9 | lzma.PRESET_EXTREME}]
    blob = lzma.compress(buf.getvalue(), format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC64, filters=filters)
    out.write_bytes(blob)
    return blob


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", type=Path, default=HERE.parents[1].parent / "shared/data/nmnist/slayer_NMNISTsmall")
    ap.add_argument("--per-class", type=int, default=75, help="training samples kept per digit (test: all 100)")
    ap.add_argument("--out", type=Path, default=HERE / "nmnist_small.tar.xz")
    args = ap.parse_args()
    blob = build(args.source, args.per_class, args.out)
    print(f"{args.out}: {len(blob)} bytes, sha256 {hashlib.sha256(blob).hexdigest()}")


if __name__ == "__main__":
    main()
