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


@pytest.mark.parametrize("pull", [False, True], ids=["push", "pull"])
@pytest.mark.parametrize(("dense_rows", "n"), [(False, 40), (True, 40), (True, 150)],
                         ids=["lists", "rows-1-tile", "rows-3-tiles"])
@pytest.mark.parametrize("threads", [1, 2, 5, 37])
def test_lockstep_blocks_and_both_fanout_paths(threads, dense_rows, n, pull, monkeypatch):
    """Blocks of 37, 19, 8 and 1 samples: neurons active in few samples of a block add their fan-out through
    the list of those samples, busier ones through the masked add over the block (or, with ``dense_rows``, whole
    rows of the recurrent matrix in 64-neuron float64 tiles: for 40 neurons one tile, for 150 three, the last
    zero-padded); with ``pull``, every step after the first where a neuron fired pulls each neuron's fan-in for
    the block instead (float64: 8 samples per mask word; 37 samples: five words, padded to six). All give the
    torch loop's result exactly, whatever the block size. Up to 40 % of a sample's neurons fire at once, so the
    row sums run past the rows prefetched ahead."""
    import numpy as np

    from neuro.backends import _numba_recurrent
    from neuro.backends._numba_gather import PREFETCH
    from neuro.backends._numba_recurrent import run
    from neuro.backends.fused import lif_spec

    monkeypatch.setattr(_numba_recurrent, "DENSE_ROWS_ABOVE", 0.0)
    monkeypatch.setattr(_numba_recurrent, "DENSE_ROWS_BYTES", 1 << 20 if dense_rows else n * n * 8 - 1)  # too big
    for name in ("ROW_VECTOR_COST", "FANOUT_ADD_COST"):  # pull whenever a neuron fired, or never
        monkeypatch.setattr(_numba_recurrent, name, 1e9 if pull else 0.0)
    modes = []
    for name, dense in (("recurrent_kernel", False), ("tiled_kernel", True)):
        original = getattr(_numba_recurrent, name)
        monkeypatch.setattr(_numba_recurrent, name, lambda *a, f=original, d=dense: modes.append(d) or f(*a))

    layer = _layer(n, seed=3)
    g = torch.Generator().manual_seed(4)
    gain = torch.linspace(0.6, 4.0, 37, dtype=torch.float64).view(1, 37, 1)  # quiet to busy samples
    x = torch.rand(40, 37, n, dtype=torch.float64, generator=g) * gain
    ref, ref_state = _run(layer, x, "reference")
    rates = ref.mean(dim=(0, 2))
    assert rates.min() < 0.05 and rates.max() > 0.3, rates
    spec = lif_spec(layer.neuron.params(), x.dtype)
    k = spec.scalars
    c = np.array([float(k["decay"]), float(k["leak"]), float(k["gain"]), float(k["v_threshold"]),
                  spec.consts["v_reset"]])
    v0 = np.zeros((37, n))
    out, v_out, vs = run(x.numpy(), v0, np.zeros((37, n)), layer.weight.numpy(), c, spec.reset, True, threads)
    assert np.array_equal(out, ref.numpy()) and modes == [dense_rows]
    pulled, steps = _numba_recurrent.last_pulls
    assert (pulled > steps // 2) if pull else pulled == 0, (pulled, steps)
    assert out.sum(axis=2).max() >= 12 > PREFETCH  # a step where some sample fired more rows than are prefetched
    np.testing.assert_allclose(v_out, ref_state.v.numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(vs[-1], v_out)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_tile_widths_are_512_bytes(dtype):
    import numpy as np

    from neuro.backends._numba_recurrent import tile_width, tiles_of

    width = tile_width(np.dtype(dtype))
    assert width * np.dtype(dtype).itemsize == 512
    w = np.arange(3 * (width + 5), dtype=dtype).reshape(3, width + 5)
    tiles = tiles_of(w, np.dtype(dtype), width)
    assert tiles.shape == (2, 3, width)
    assert np.array_equal(np.concatenate(list(tiles), axis=1)[:, :width + 5], w)
    assert not tiles[1, :, 5:].any()  # zero-padded past the last column


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(("n", "b"), [(23, 6), (150, 37)])
def test_tiled_rows_equal_the_synapse_lists_from_any_initial_state(n, b, dtype, monkeypatch):
    """A graded initial spike vector (the first step multiplies it in) and membrane: the tiled dense path (one
    tile, three tiles), the CSC lists and the pull path from each (one to three sample vectors of float32's 16 and
    float64's 8 lanes, on two threads) give the same spikes and membranes."""
    import numpy as np

    from neuro.backends import _numba_recurrent
    from neuro.backends._numba_recurrent import run

    rng = np.random.default_rng(5)
    w = (rng.normal(0, 0.6, (n, n)) * (rng.random((n, n)) < 0.3)).astype(dtype)
    x = (rng.random((15, b, n)) * 1.2).astype(dtype)
    v0 = rng.random((b, n)).astype(dtype)
    s0 = (rng.random((b, n)) * (rng.random((b, n)) < 0.4) * 2.0).astype(dtype)
    c = np.array([0.8, 0.01, 1.0, 1.0, 0.0], dtype)
    results = []
    for bytes_ in (1 << 20, 0):  # dense rows, then lists (the dense copy "too big")
        monkeypatch.setattr(_numba_recurrent, "DENSE_ROWS_BYTES", bytes_)
        for cost in (0.0, 1e9):  # never pull, pull at every step after the first
            monkeypatch.setattr(_numba_recurrent, "ROW_VECTOR_COST", cost)
            monkeypatch.setattr(_numba_recurrent, "FANOUT_ADD_COST", cost)
            results.append(run(x, v0, s0, w, c, 1, True, 2))
            assert (_numba_recurrent.last_pulls[0] > 0) == (cost > 0)
    out, v_out, vs = results[0]
    assert out.sum() > 0
    for out2, v_out2, vs2 in results[1:]:
        np.testing.assert_array_equal(out, out2)
        np.testing.assert_array_equal(vs, vs2)
        np.testing.assert_array_equal(v_out, v_out2)


def test_no_pull_path_on_big_endian_machines(monkeypatch):
    """The pull path's masks assume lane ``l`` in bit ``l``: elsewhere the kernels keep their rows and lists."""
    import sys

    import numpy as np

    from neuro.backends import _numba_recurrent
    from neuro.backends._numba_recurrent import run

    rng = np.random.default_rng(9)
    w = rng.normal(0, 0.6, (30, 30)) * (rng.random((30, 30)) < 0.3)
    x = rng.random((10, 20, 30)) * 1.5
    v0 = np.zeros((20, 30))
    c = np.array([0.8, 0.0, 1.0, 1.0, 0.0])
    for name in ("ROW_VECTOR_COST", "FANOUT_ADD_COST"):
        monkeypatch.setattr(_numba_recurrent, name, 1e9)
    pulled = run(x, v0, v0, w, c, 0, False, 2)[0]
    assert _numba_recurrent.last_pulls[0] > 0
    monkeypatch.setattr(sys, "byteorder", "big")
    kept = run(x, v0, v0, w, c, 0, False, 2)[0]
    assert _numba_recurrent.last_pulls[0] == 0 and pulled.sum() > 0
    np.testing.assert_array_equal(kept, pulled)
