"""RecurrentLIF: the event-driven kernel against the torch loop; training through the loop."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from neuro import LIF, backends
from neuro.errors import ShapeError
from neuro.layers import RecurrentLIF

pytest.importorskip("numba")


def _layer(n=30, reset="hard", seed=0, **kw):
    g = torch.Generator().manual_seed(seed)
    return RecurrentLIF(n, neuron=LIF(tau_mem=3e-3, reset=reset, **kw), p_connect=0.2, scale=0.5,
                        generator=g).double()


def _run(layer, x, backend, state=None):
    with torch.no_grad(), backends.use(backend):
        return layer(x, state)


@pytest.mark.parametrize("reset", ["hard", "subtract", "none"])
def test_kernel_matches_loop(reset):
    layer = _layer(reset=reset)
    x = torch.rand(50, 3, 30, dtype=torch.float64, generator=torch.Generator().manual_seed(1)) * 1.5
    out, state = _run(layer, x, "fused")
    ref, ref_state = _run(layer, x, "reference")
    assert torch.equal(out, ref)
    assert out.sum() > 0  # the test exercises recurrent input, not silence
    torch.testing.assert_close(state.v, ref_state.v, rtol=1e-12, atol=1e-12)
    assert torch.equal(state.s, ref_state.s)


@given(t=st.integers(1, 12), b=st.integers(1, 4), n=st.integers(1, 25), seed=st.integers(0, 50))
def test_shapes_and_continuation(t, b, n, seed):
    layer = _layer(n, seed=seed)
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(2 * t, b, n, dtype=torch.float64, generator=g) * 2
    whole, _ = _run(layer, x, "fused")
    first, state = _run(layer, x[:t], "fused")
    second, _ = _run(layer, x[t:], "fused", state)  # the last spikes carry over through the state
    assert torch.equal(whole, torch.cat([first, second]))
    ref, _ = _run(layer, x, "reference")
    assert torch.equal(whole, ref)


def test_training_runs_the_differentiable_loop():
    layer = RecurrentLIF(12, learn_weight=True, p_connect=0.5, scale=0.5, generator=torch.Generator().manual_seed(0))
    x = torch.rand(20, 2, 12, requires_grad=True)
    out, _ = layer(x)
    out.sum().backward()
    assert layer.weight.grad is not None and x.grad is not None


def test_errors():
    with pytest.raises(ShapeError, match="weight"):
        RecurrentLIF(4, torch.zeros(3, 3))
    with pytest.raises(ShapeError, match=r"\(T, B, 4\)"):
        RecurrentLIF(4)(torch.zeros(2, 4))


@pytest.mark.parametrize("dense_rows", [False, True], ids=["lists", "dense-rows"])
@pytest.mark.parametrize("threads", [1, 2, 5, 37])
def test_lockstep_blocks_and_both_fanout_paths(threads, dense_rows, monkeypatch):
    """Blocks of 37, 19, 8 and 1 samples: neurons active in few samples of a block add their fan-out through
    the list of those samples, busier ones through the masked add over the block (or, with ``dense_rows``, whole
    rows of the recurrent matrix); all give the torch loop's result exactly, whatever the block size."""
    import numpy as np

    from neuro.backends import _numba_recurrent
    from neuro.backends._numba_recurrent import run
    from neuro.backends.fused import lif_spec

    monkeypatch.setattr(_numba_recurrent, "DENSE_ROWS_ABOVE", 0.0)
    monkeypatch.setattr(_numba_recurrent, "DENSE_ROWS_BYTES", 1 << 20 if dense_rows else 40 * 40 * 8 - 1)  # too big
    modes = []
    original = _numba_recurrent.recurrent_kernel
    monkeypatch.setattr(_numba_recurrent, "recurrent_kernel", lambda *a: modes.append(a[2]) or original(*a))

    layer = _layer(40, seed=3)
    g = torch.Generator().manual_seed(4)
    gain = torch.linspace(0.6, 4.0, 37, dtype=torch.float64).view(1, 37, 1)  # quiet to busy samples
    x = torch.rand(40, 37, 40, dtype=torch.float64, generator=g) * gain
    ref, ref_state = _run(layer, x, "reference")
    rates = ref.mean(dim=(0, 2))
    assert rates.min() < 0.05 and rates.max() > 0.3, rates
    spec = lif_spec(layer.neuron.params(), x.dtype)
    k = spec.scalars
    c = np.array([float(k["decay"]), float(k["leak"]), float(k["gain"]), float(k["v_threshold"]),
                  spec.consts["v_reset"]])
    v0 = np.zeros((37, 40))
    out, v_out, vs = run(x.numpy(), v0, np.zeros((37, 40)), layer.weight.numpy(), c, spec.reset, True, threads)
    assert np.array_equal(out, ref.numpy()) and modes == [dense_rows]
    np.testing.assert_allclose(v_out, ref_state.v.numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(vs[-1], v_out)
