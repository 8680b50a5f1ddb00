"""The Triton backend's kernels, checked on CPU under Triton's interpreter (``TRITON_INTERPRET=1``)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from neuro import backends

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]


def test_kernels_match_the_reference_under_the_interpreter():
    pytest.importorskip("triton")
    env = {**os.environ, "TRITON_INTERPRET": "1"}
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(HERE / "triton_interpreter_cases.py")]
    proc = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert " passed" in proc.stdout and "failed" not in proc.stdout


def test_unavailable_without_a_gpu_or_the_interpreter():
    import torch

    status = backends.available()["triton"]
    if torch.cuda.is_available() or os.environ.get("TRITON_INTERPRET") == "1":
        pytest.skip("a GPU or the interpreter is present: the backend is available here")
    assert status != "available" and ("CUDA" in status or "not installed" in status)
