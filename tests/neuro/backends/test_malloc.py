"""neuro's glibc settings: the user's own settings win, and freed heap memory is reused without page faults."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from neuro.backends import _malloc

ROOT = Path(__file__).resolve().parents[3]

# A step that mallocs three 20 MB blocks, writes them and frees them all; minor page faults of steps 3-8.
PROBE = """
import ctypes, json, resource, sys, types
if sys.argv[1] == "glibc":  # importing neuro must call no mallopt
    stand_in = types.ModuleType("neuro.backends._malloc")
    stand_in.keep_freed_memory = lambda limit, env=None: False
    sys.modules[stand_in.__name__] = stand_in
import neuro  # noqa: F401
libc = ctypes.CDLL(None)
libc.malloc.restype, libc.malloc.argtypes, libc.free.argtypes = ctypes.c_void_p, [ctypes.c_size_t], [ctypes.c_void_p]
size = 20 << 20

def step():
    blocks = [libc.malloc(size) for _ in range(3)]
    for b in blocks:
        ctypes.memset(b, 1, size)
    for b in reversed(blocks):
        libc.free(b)

for _ in range(2):
    step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(6):
    step()
print(json.dumps((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 6))
"""


def test_user_settings_are_left_alone():
    assert not _malloc.user_configured({})
    assert not _malloc.user_configured({"GLIBC_TUNABLES": "glibc.pthread.rseq=0"})
    for env in ({"MALLOC_TRIM_THRESHOLD_": "0"}, {"MALLOC_MMAP_THRESHOLD_": "65536"},
                {"GLIBC_TUNABLES": "glibc.malloc.trim_threshold=0"}):
        assert _malloc.user_configured(env)
        assert _malloc.keep_freed_memory(1 << 30, env) is False


def test_limit_zero_before_tuning_changes_nothing(monkeypatch):
    calls = []
    monkeypatch.setattr(_malloc, "_tuned", False)
    monkeypatch.setattr(_malloc, "_mallopt", lambda: lambda param, value: calls.append((param, value)) or 1)
    assert _malloc.keep_freed_memory(0, {}) is False and calls == []
    assert _malloc.keep_freed_memory(3 << 30, {}) is True  # capped to a C int
    assert calls == [(_malloc.M_MMAP_THRESHOLD, _malloc.MMAP_THRESHOLD), (_malloc.M_TRIM_THRESHOLD, 2**31 - 1)]
    assert _malloc.keep_freed_memory(0, {}) is True  # once tuned, 0 restores glibc's initial trim threshold
    assert calls[-1] == (_malloc.M_TRIM_THRESHOLD, _malloc.DEFAULT_TRIM)


def _faults(mode: str) -> float:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("MALLOC_") and k not in ("GLIBC_TUNABLES", "THP_MEM_ALLOC_ENABLE",
                                                        "NEURO_CPU_BUFFER_CACHE_MB")}
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    out = subprocess.run([sys.executable, "-c", PROBE, mode], env=env, capture_output=True, text=True, timeout=300,
                         check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


@pytest.mark.skipif(_malloc._mallopt() is None, reason="glibc's mallopt is not available on this system")
def test_freed_blocks_are_reused_without_page_faults():
    # glibc alone trims the 60 MB freed at the top of its heap (more than twice the largest block it saw freed)
    # every step, so each step faults ~40 MB (10,000 pages) in again; with neuro imported the memory stays.
    assert _faults("glibc") > 5000
    assert _faults("neuro") < 100
