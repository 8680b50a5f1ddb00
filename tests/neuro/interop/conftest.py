"""Fixtures of the interop tests: a minimal N-MNIST reader (the data package is not a dependency here)."""

from __future__ import annotations

import numpy as np
import pytest
import torch


@pytest.fixture
def nmnist_reader():
    """Decode N-MNIST's 5-byte events (x, y, p, t in us) and bin them into (T, 2, 34, 34) count frames."""
    def frames(path, steps: int, window_us: int = 300_000) -> torch.Tensor:
        raw = np.fromfile(path, dtype=np.uint8)
        if raw.size % 5:
            raise ValueError(f"{path}: {raw.size} bytes is not a whole number of 5-byte events")
        ev = raw.reshape(-1, 5).astype(np.int64)
        x, y, p = ev[:, 0], ev[:, 1], ev[:, 2] >> 7
        t = ((ev[:, 2] & 0x7F) << 16) | (ev[:, 3] << 8) | ev[:, 4]
        keep = t < window_us
        b = np.minimum(t[keep] * steps // window_us, steps - 1)
        flat = ((b * 2 + p[keep]) * 34 + y[keep]) * 34 + x[keep]  # index into (T, 2, 34, 34)
        out = np.bincount(flat, minlength=steps * 2 * 34 * 34).reshape(steps, 2, 34, 34).astype(np.float32)
        return torch.from_numpy(out)
    return frames
