"""The CPU buffer pool: reuse only of blocks no tensor uses, alignment, limits, threads, kernels unaffected."""

from __future__ import annotations

import threading

import pytest
import torch

from neuro import LIF, backends
from neuro.backends import _buffers as buf
from neuro.errors import ConfigError

SHAPE = (512, 256)  # 512 KiB of float32: pooled (MIN_BYTES lowered below)


@pytest.fixture(autouse=True)
def fresh_pool(monkeypatch):
    monkeypatch.setattr(buf, "MIN_BYTES", 1 << 18)  # pool from 256 KiB, so that small tensors exercise it
    limit = buf.cache_limit()
    buf.set_cache_limit(64 << 20)
    buf.empty_cache()
    yield
    buf.set_cache_limit(limit)
    buf.empty_cache()


def test_a_freed_block_is_handed_out_again_aligned():
    t = buf.empty(SHAPE, torch.float32)
    ptr = t.data_ptr()
    assert ptr % buf.ALIGN == 0 and t.is_contiguous() and t.shape == SHAPE
    del t
    u = buf.empty(SHAPE, torch.float32)
    assert u.data_ptr() == ptr
    assert buf.cached_bytes() == (SHAPE[0] * SHAPE[1] * 4, 0)


def test_same_size_other_shape_and_dtype_reuse_the_block():
    t = buf.empty(SHAPE, torch.float32)
    ptr = t.data_ptr()
    del t
    u = buf.empty((SHAPE[0] * SHAPE[1] // 2,), torch.float64)
    assert u.data_ptr() == ptr and u.dtype == torch.float64


def test_blocks_in_use_are_never_handed_out():
    t = buf.empty(SHAPE, torch.float32)
    t.fill_(1.0)
    view = t[3:]
    del t  # the view keeps the storage
    saved = buf.empty(SHAPE, torch.float32).fill_(2.0)

    class Keep(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x, kept):
            ctx.save_for_backward(kept)
            return x * 1

        @staticmethod
        def backward(ctx, g):
            return g, None

    leaf = torch.ones(2, requires_grad=True)
    graph = Keep.apply(leaf, saved)
    saved_ptr = saved.data_ptr()
    del saved  # autograd's saved tensor keeps it
    array = buf.empty_array(SHAPE, "float32")
    array.fill(3.0)
    others = [buf.empty(SHAPE, torch.float32).fill_(9.0) for _ in range(3)]
    assert view.eq(1.0).all() and array.min() == 3.0
    assert saved_ptr not in {o.data_ptr() for o in others}
    del graph
    again = buf.empty(SHAPE, torch.float32)
    assert again.data_ptr() == saved_ptr  # released with the graph


def test_small_requests_and_a_zero_limit_bypass_the_pool():
    small = buf.empty((16, 16), torch.float32)
    assert small.shape == (16, 16) and buf.cached_bytes() == (0, 0)
    buf.set_cache_limit(0)
    big = buf.empty(SHAPE, torch.float32)
    assert big.shape == SHAPE and buf.cached_bytes() == (0, 0)


def test_free_blocks_beyond_the_limit_are_dropped_oldest_first():
    block = SHAPE[0] * SHAPE[1] * 4
    buf.set_cache_limit(2 * block)
    held = [buf.empty(SHAPE, torch.float32) for _ in range(4)]
    ptrs = [t.data_ptr() for t in held]
    assert buf.cached_bytes() == (4 * block, 0)
    del held
    assert buf.cached_bytes() == (0, 4 * block)  # noticed lazily ...
    other = buf.empty((SHAPE[0] * 3, SHAPE[1]), torch.float32)  # ... and trimmed at the next hand-out
    assert buf.cached_bytes() == (3 * block, 2 * block)
    again = [buf.empty(SHAPE, torch.float32) for _ in range(2)]
    assert {t.data_ptr() for t in again} == set(ptrs[2:])  # the two handed out last were kept
    del other, again
    reuse = buf.empty(SHAPE, torch.float32)  # a reuse trims too: the older, 3-block one goes
    assert buf.cached_bytes() == (block, block)
    del reuse
    buf.empty_cache()
    assert buf.cached_bytes() == (0, 0)


def test_bad_limits_are_config_errors():
    with pytest.raises(ConfigError, match="max_bytes"):
        buf.set_cache_limit(-1)
    with pytest.raises(ConfigError, match="NEURO_CPU_BUFFER_CACHE_MB"):
        buf.limit_from_env("lots")
    with pytest.raises(ConfigError, match="NEURO_CPU_BUFFER_CACHE_MB"):
        buf.limit_from_env("nan")
    assert buf.limit_from_env(None) == 1024 << 20
    assert buf.limit_from_env("0.5") == 1 << 19


def test_threads_never_share_a_block():
    errors = []
    barrier = threading.Barrier(6)

    def work(k: int) -> None:
        for _ in range(20):
            t = buf.empty(SHAPE, torch.float32).fill_(float(k))
            barrier.wait()
            if not t.eq(float(k)).all():
                errors.append(k)
            barrier.wait()

    threads = [threading.Thread(target=work, args=(k,)) for k in range(6)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors


@pytest.mark.skipif("fused" not in backends.available(), reason="fused CPU backend (numba) not installed")
def test_lif_outputs_held_by_the_caller_are_not_overwritten_by_the_next_call():
    torch.manual_seed(0)
    lif = LIF(surrogate="sigmoid")
    x1, x2 = torch.randn(8, 64, 256) * 2, torch.randn(8, 64, 256) * 2
    with backends.use("reference"):
        want1 = lif(x1)[0]
    with backends.use("fused"):
        s1 = lif(x1)[0]
        for _ in range(3):
            s2 = lif(x2)[0]
            del s2
        assert s1.data_ptr() % buf.ALIGN == 0
        torch.testing.assert_close(s1, want1, rtol=0, atol=0)
        # gradients through pooled buffers, twice in a row, equal the reference's
        grads = []
        for _ in range(2):
            x = x1.clone().requires_grad_()
            lif(x)[0].sum().backward()
            grads.append(x.grad)
    x = x1.clone().requires_grad_()
    with backends.use("reference"):
        lif(x)[0].sum().backward()
    torch.testing.assert_close(grads[0], x.grad)
    torch.testing.assert_close(grads[1], grads[0], rtol=0, atol=0)
    assert grads[0].data_ptr() != grads[1].data_ptr()


def test_the_default_threshold_leaves_blocks_glibc_reuses_to_torch(monkeypatch):
    monkeypatch.setattr(buf, "MIN_BYTES", 32 << 20)
    below = buf.empty((1 << 20,), torch.float32)  # 4 MiB
    assert below.numel() == 1 << 20 and buf.cached_bytes() == (0, 0)
    at = buf.empty((8 << 20,), torch.float32)  # 32 MiB
    assert buf.cached_bytes() == (32 << 20, 0) and at.data_ptr() % buf.ALIGN == 0


@pytest.mark.parametrize("density", [0.02, 0.25, 0.6])  # gathered + CSR, gathered + bits, GEMM + bits
def test_event_linear_input_gradient_and_gemm_output_come_from_the_pool(density):
    from neuro.layers import EventLinear

    torch.manual_seed(0)
    layer = EventLinear(256, 512)  # 512 rows: 512 KiB input gradient, 1 MiB output (pooled from 256 KiB here)
    x = (torch.rand(2, 256, 256) < density).float().requires_grad_()
    gy = torch.randn(2, 256, 512)
    with backends.use("fused"):
        y = layer(x)
        y.backward(gy)
    want = torch.nn.functional.linear(x.detach(), layer.weight, layer.bias)
    torch.testing.assert_close(y, want)
    torch.testing.assert_close(x.grad, gy @ layer.weight.detach())
    assert _pooled(x.grad) and _pooled(y)  # GEMM output, or the column blocks of a 512-column gather
    in_use = buf.cached_bytes()[0]
    del y, x
    assert buf.cached_bytes()[0] < in_use  # freed with their tensors


def _pooled(t: torch.Tensor) -> bool:
    """Whether ``t``'s memory lies in one of the pool's blocks."""
    return any(b.raw.ctypes.data <= t.data_ptr() < b.raw.ctypes.data + b.raw.nbytes for b in buf._blocks)
