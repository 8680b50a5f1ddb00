"""Fixtures of the interop tests: N-MNIST recordings as frames, through neuro.data's reader."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from neuro.data.binary import read_atis
from neuro.data.frames import to_frames

SENSOR = (34, 34, 2)  # tonic's (width, height, polarities)


@pytest.fixture
def nmnist_reader():
    """Read an N-MNIST ``.bs2`` file into ``(steps, 2, 34, 34)`` float32 event counts."""
    def frames(path, steps: int) -> torch.Tensor:
        counts = to_frames(read_atis(path, SENSOR), SENSOR, n_time_bins=steps)
        return torch.from_numpy(counts.astype(np.float32))
    return frames
