"""run_blocks: every block exactly once over the threads, small or single-threaded calls on the caller, errors
propagate."""

from __future__ import annotations

import itertools
import threading
import time

import pytest
import torch

from neuro.backends import _omp_team
from neuro.backends._parallel import SERIAL_BELOW, executor, run_blocks
from neuro.errors import ConfigError


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


@pytest.fixture(params=["openmp", "pool"])
def executor_mode(request, monkeypatch, two_threads):
    """Each executor in turn (the OpenMP team only where torch runs on libgomp)."""
    monkeypatch.setenv("NEURO_PARALLEL", request.param)
    if request.param == "openmp" and _omp_team.library() is None:
        pytest.skip("torch's parallel operations do not run on libgomp here")
    assert executor() == request.param
    return request.param


def test_every_block_once_in_each_executor(executor_mode):
    calls, lock = [], threading.Lock()
    run_blocks(_recording_kernel(calls, lock, 0.002), 3 * SERIAL_BELOW + 7, 3, "args")
    covered = sorted((b0, b1) for b0, b1, _ in calls)
    assert covered[0][0] == 0 and covered[-1][1] == -(-(3 * SERIAL_BELOW + 7) // 3)
    assert all(a[1] == b[0] for a, b in itertools.pairwise(covered)) and len(covered) == 8
    assert len({ident for _, _, ident in calls}) <= 2


def test_an_error_propagates_in_each_executor(executor_mode):
    def kernel(b0, b1, bs):
        time.sleep(0.005)
        if b0 == 0:
            raise KeyError("block 0")

    with pytest.raises(KeyError, match="block 0"):
        run_blocks(kernel, 64 * SERIAL_BELOW, SERIAL_BELOW)
    calls, lock = [], threading.Lock()  # the executor still works afterwards
    run_blocks(_recording_kernel(calls, lock), 3 * SERIAL_BELOW, 3, "args")
    assert len(calls) == 8


def test_the_openmp_executor_runs_on_torchs_team(executor_mode):
    """The chunks run on members 0 and 1 of an OpenMP team of torch's libgomp, the caller being member 0; the pool
    runs them on its own named threads, outside any team."""
    lib = _omp_team.library()
    seen, lock = [], threading.Lock()

    def kernel(b0, b1, bs):
        time.sleep(0.005)  # both threads get a chunk
        member = lib.omp_get_thread_num() if lib is not None else None
        with lock:
            seen.append((threading.get_ident(), threading.current_thread().name, member))

    run_blocks(kernel, 64 * SERIAL_BELOW, SERIAL_BELOW)
    if executor_mode == "openmp":
        assert {m for _, _, m in seen} == {0, 1}
        assert all((ident == threading.get_ident()) == (m == 0) for ident, _, m in seen)
    else:
        assert all(name.startswith("neuro-fused") for _, name, _ in seen)


def test_team_threads_keep_their_python_thread_state(monkeypatch, two_threads):
    """A team thread's Python thread state outlives the callback: a ``threading.local`` set on it in one call is
    still there in the next (``ctypes`` alone would give every callback a fresh thread state, and an empty local)."""
    monkeypatch.setenv("NEURO_PARALLEL", "openmp")
    lib = _omp_team.library()
    if lib is None:
        pytest.skip("torch's parallel operations do not run on libgomp here")
    local = threading.local()
    seen, lock = [], threading.Lock()
    run = [0]

    def kernel(b0, b1, bs):
        time.sleep(0.005)  # both threads get chunks
        with lock:
            seen.append((run[0], lib.omp_get_thread_num(), getattr(local, "run", None)))
        local.run = run[0]

    for k in range(2):
        run[0] = k
        run_blocks(kernel, 64 * SERIAL_BELOW, SERIAL_BELOW)
    second = [before for k, member, before in seen if k == 1 and member == 1]
    assert second and second[0] == 0  # the worker's first chunk of the second call sees the first call's mark
    assert threading.get_native_id() not in _omp_team._kept  # the caller's own state is Python's to manage


def test_kept_thread_states_are_bounded(monkeypatch, two_threads):
    """Teams led by short-lived Python threads have threads of their own: past MAX_KEPT, no more states are kept,
    and the kernels still run everywhere."""
    monkeypatch.setenv("NEURO_PARALLEL", "openmp")
    if _omp_team.library() is None:
        pytest.skip("torch's parallel operations do not run on libgomp here")
    monkeypatch.setattr(_omp_team, "MAX_KEPT", len(_omp_team._kept) + 1)
    results = []

    def caller() -> None:
        calls, lock = [], threading.Lock()
        run_blocks(_recording_kernel(calls, lock, 0.002), 3 * SERIAL_BELOW, 3, "args")
        results.append(len(calls))

    for _ in range(4):  # one after the other: each leads a team with a new libgomp thread
        t = threading.Thread(target=caller)
        t.start()
        t.join(timeout=60)
    assert results == [8, 8, 8, 8]
    assert len(_omp_team._kept) <= _omp_team.MAX_KEPT


def test_concurrent_callers_each_get_every_block(executor_mode):
    results: dict[int, list] = {}

    def caller(k: int) -> None:
        calls, lock = [], threading.Lock()
        run_blocks(_recording_kernel(calls, lock, 0.001), 3 * SERIAL_BELOW, 3, "args")
        results[k] = sorted((b0, b1) for b0, b1, _ in calls)

    threads = [threading.Thread(target=caller, args=(k,)) for k in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(results) == [0, 1, 2]
    assert all(r == results[0] and len(r) == 8 for r in results.values())


def test_a_fused_kernel_gives_the_same_result_in_each_executor(executor_mode):
    from neuro import LIF
    from neuro.backends import use

    node = LIF(tau_mem=2e-3, dt=1e-3, reset="hard", detach_reset=True, surrogate="atan")
    x = (torch.randn(4, 3 * SERIAL_BELOW, generator=torch.Generator().manual_seed(0)) + 0.8).requires_grad_()
    with use("fused"):
        s = node(x)[0]
        s.backward(torch.ones_like(s))
    with use("reference"):
        x_ref = x.detach().clone().requires_grad_()
        s_ref = node(x_ref)[0]
        s_ref.backward(torch.ones_like(s_ref))
    assert torch.equal(s, s_ref)
    torch.testing.assert_close(x.grad, x_ref.grad, rtol=1e-6, atol=1e-7)


def test_an_unknown_executor_is_named(monkeypatch):
    monkeypatch.setenv("NEURO_PARALLEL", "tbb")
    with pytest.raises(ConfigError, match="NEURO_PARALLEL='tbb'.*'openmp'.*'pool'"):
        executor()


def test_which_libgomp_is_torchs():
    torch_dir = "/site/torch"
    system = "/usr/lib/x86_64-linux-gnu/libgomp.so.1.0.0"
    own = "/site/torch/lib/libgomp.so.1"
    assert _omp_team.pick_libgomp([system, own, "/usr/lib/libc.so.6"], torch_dir) == [own]
    assert _omp_team.pick_libgomp([system, "/usr/lib/libc.so.6"], torch_dir + "/") == [system]
    assert _omp_team.pick_libgomp([system, "/opt/intel/lib/libiomp5.so"], torch_dir) == []  # torch may run on iomp
    assert _omp_team.pick_libgomp([system, "/usr/lib/llvm/libomp.so.5"], torch_dir) == []
    assert _omp_team.pick_libgomp([system, "/opt/other/libgomp.so.1"], torch_dir) == []  # two, neither torch's
    assert _omp_team.pick_libgomp(["/usr/lib/libc.so.6"], torch_dir) == []
