"""run_blocks: every block exactly once over the threads, small or single-threaded calls on the caller, errors
propagate."""

from __future__ import annotations

import itertools
import threading
import time

import pytest
import torch

from neuro.backends._parallel import SERIAL_BELOW, run_blocks


@pytest.fixture
def two_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


def _recording_kernel(calls: list, lock: threading.Lock, pause: float = 0.0):
    def kernel(tag, b0, b1, bs):
        assert tag == "args" and bs == 3
        time.sleep(pause)
        with lock:
            calls.append((b0, b1, threading.get_ident()))
    return kernel


@pytest.mark.parametrize("n", [SERIAL_BELOW, 3 * SERIAL_BELOW + 7])
def test_every_block_once(two_threads, n):
    calls, lock = [], threading.Lock()
    run_blocks(_recording_kernel(calls, lock, 0.002), n, 3, "args")
    covered = sorted((b0, b1) for b0, b1, _ in calls)
    assert covered[0][0] == 0 and covered[-1][1] == -(-n // 3)
    assert all(a[1] == b[0] for a, b in itertools.pairwise(covered))  # contiguous, no overlap
    assert len(covered) == 8  # 4 chunks per thread


def test_small_or_single_thread_runs_on_the_caller(two_threads):
    calls, lock = [], threading.Lock()
    run_blocks(_recording_kernel(calls, lock), 30, 3, "args")  # 30 elements: below SERIAL_BELOW
    assert [(b0, b1) for b0, b1, _ in calls] == [(0, 10)] and calls[0][2] == threading.get_ident()
    torch.set_num_threads(1)
    calls.clear()
    run_blocks(_recording_kernel(calls, lock), 3 * SERIAL_BELOW, 3, "args")
    assert len(calls) == 1 and calls[0][2] == threading.get_ident()


def test_an_error_propagates(two_threads):
    ran = []

    def kernel(b0, b1, bs):
        ran.append(b0)
        time.sleep(0.01)
        if b0 == 0:
            raise ValueError("bad block")

    with pytest.raises(ValueError, match="bad block"):
        run_blocks(kernel, 64 * SERIAL_BELOW, SERIAL_BELOW)
    assert 0 in ran
