"""Data benchmark: N-MNIST samples per second from ``.bin`` files to frames, neuro vs tonic.

Both pipelines read each file from disk and produce ``(T, 2, 34, 34)`` event-count frames with
``n_time_bins`` time bins: neuro with :func:`neuro.data.binary.read_atis` + :class:`~neuro.data.frames.FrameSpec`,
tonic with its own reader (``tonic.io.read_mnist_file``, the one ``tonic.datasets.NMNIST`` uses) +
``tonic.transforms.ToFrame``. Before timing, every sample's frames are compared and must be identical.
Importing this module has no side effects (tonic is imported when the benchmark runs).

Run: ``python -m neuro.data.benchmark [ROOT] [--samples N] [--repeats R] [--bins T]``; ROOT defaults to
``datasets/nmnist_small`` (unpacked once into the data root).
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np

from neuro.errors import NeuroError

__all__ = ["nmnist_pipeline_benchmark"]


def _files(root: str | Path, split: str, n_samples: int) -> list[Path]:
    from neuro.data.nmnist import NMNISTConfig, build_nmnist

    ds = build_nmnist(NMNISTConfig(root=str(root), n_time_bins=1, cache=False), split)
    files = list(ds.source.files)
    if n_samples and n_samples < len(files):  # an even spread over the (class-sorted) files
        files = [files[i] for i in np.linspace(0, len(files) - 1, n_samples).round().astype(int)]
    return files


def nmnist_pipeline_benchmark(root: str | Path = "datasets/nmnist_small", n_samples: int = 1000, repeats: int = 3,
                              n_time_bins: int = 10, split: str = "train") -> dict[str, Any]:
    """Samples/s of neuro's and tonic's N-MNIST file -> frames pipelines (best of ``repeats`` passes).

    Args:
        root: an N-MNIST root (``Train/`` + ``Test/`` folders, or a folder holding an archive of them).
        n_samples: number of files (0 = all of the split).
        repeats: timed passes over the files per pipeline; the best pass is reported.
        n_time_bins: frames per sample.

    Returns:
        dict with ``neuro_samples_per_s``, ``tonic_samples_per_s``, ``speedup``, ``samples``, ``events``,
        ``verified`` (frames identical for every sample) and the configuration.
    """
    import tonic
    from tonic.datasets.nmnist import NMNIST
    from tonic.io import read_mnist_file
    from tonic.transforms import ToFrame

    from neuro.data.binary import read_atis
    from neuro.data.frames import FrameSpec

    files = _files(root, split, n_samples)
    sensor = (34, 34, 2)
    spec = FrameSpec(n_time_bins=n_time_bins)
    to_frame = ToFrame(sensor_size=sensor, n_time_bins=n_time_bins)

    def ours(path: Path) -> np.ndarray:
        return spec.apply(read_atis(path, sensor), sensor)

    def theirs(path: Path) -> np.ndarray:
        return to_frame(read_mnist_file(str(path), dtype=NMNIST.dtype))

    events = 0
    for path in files:
        a, b = ours(path), theirs(path)
        if a.shape != b.shape or not np.array_equal(a, b):
            raise NeuroError(f"{path}: neuro and tonic frames differ ({a.shape} vs {b.shape})")
        events += int(a.sum())

    def best(fn: Any) -> float:
        times = []
        for _ in range(max(1, repeats)):
            t0 = time.perf_counter()
            for path in files:
                fn(path)
            times.append(time.perf_counter() - t0)
        return min(times)

    t_ours, t_theirs = best(ours), best(theirs)
    return {
        "benchmark": "nmnist_files_to_frames",
        "samples": len(files),
        "events": events,
        "n_time_bins": n_time_bins,
        "repeats": repeats,
        "verified": True,
        "neuro_samples_per_s": len(files) / t_ours,
        "tonic_samples_per_s": len(files) / t_theirs,
        "speedup": t_theirs / t_ours,
        "tonic_version": tonic.__version__,
        "numpy_version": np.__version__,
        "machine": platform.machine(),
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="N-MNIST files -> frames: neuro vs tonic")
    ap.add_argument("root", nargs="?", default="datasets/nmnist_small")
    ap.add_argument("--samples", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--bins", type=int, default=10)
    args = ap.parse_args(argv)
    print(json.dumps(nmnist_pipeline_benchmark(args.root, args.samples, args.repeats, args.bins), indent=2))


if __name__ == "__main__":  # pragma: no cover
    main()
