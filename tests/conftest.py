"""Shared test fixtures: seeding, the real recordings in ../shared/data, hypothesis profiles."""

from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, settings

REPO = Path(__file__).resolve().parents[1]
#: Real event recordings shipped beside the clone in CI (not part of a user's clone).
SHARED_DATA = Path(os.environ.get("NEURO_SHARED_DATA", REPO.parent / "shared" / "data"))

# A tuning file measured on this machine (neuro bench --only crossover --save-tuning) would change the layers'
# default thresholds: tests run with the built-in ones.
os.environ["NEURO_TUNING"] = ""

# Tests use small tensors: one thread avoids oversubscription on the 2-core CI machine (and under load).
torch.set_num_threads(1)

settings.register_profile("ci", deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
settings.load_profile("ci")


@pytest.fixture(autouse=True)
def _seed() -> None:
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)


@pytest.fixture
def shared_data() -> Path:
    """Path of ../shared/data; skips the test with the reason when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real event recordings not found at {SHARED_DATA} (set NEURO_SHARED_DATA); "
                    "they sit beside the clone in CI only")
    return SHARED_DATA
