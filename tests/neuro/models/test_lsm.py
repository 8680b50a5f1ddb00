"""Reservoir: golden sequence, equivalence with neuro's LIF, determinism, invariants, wiring, features, counts."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from neuro import LIFCell, backends, simulate
from neuro.analysis import count_ops
from neuro.core.weight_source import GaussianWeights
from neuro.errors import ConfigError, ShapeError
from neuro.models import build_model
from neuro.models.lsm import (
    FEATURES,
    Connectivity,
    Reservoir,
    event_matmul,
    extract_features,
    firing_stats,
    kernels,
    recurrent_mask,
    reservoir_features,
    separation,
)


def _reference(x, w_in, w_rec, decay, vth, reset="hard"):
    """The reservoir written out with neuro's LIFCell (decay_input=False, tau = dt / (1 - decay))."""
    cell = LIFCell(tau_mem=1e-3 / (1 - decay), dt=1e-3, decay_input=False, v_threshold=vth,
                   reset=reset).double()
    s = torch.zeros(x.shape[1], w_in.shape[1], dtype=torch.float64)
    state, out = None, []
    for x_t in x:
        current = x_t @ w_in + (s @ w_rec if w_rec is not None else 0.0)
        s, state = cell(current, state)
        out.append(s)
    return torch.stack(out), state.v


def test_golden_two_neurons() -> None:
    # h_t = 0.5 v + x W_in + s W_rec, threshold 1, hard reset to 0. Neuron 0 drives neuron 1 by +0.6.
    w_in = torch.tensor([[0.8, 0.0]], dtype=torch.float64)
    w_rec = torch.tensor([[0.0, 0.6], [0.0, 0.0]], dtype=torch.float64)
    res = Reservoir.from_weights(w_in, w_rec, decay=0.5, v_threshold=1.0).double()
    x = torch.tensor([1.0, 1.0, 0.0, 1.0, 0.0, 0.0], dtype=torch.float64).reshape(6, 1, 1)
    trace = simulate(res, x, record=True)
    # n0: h = 0.8 -> 1.2 (spike) -> 0 -> 0.8 -> 0.4 -> 0.2; n1 gets 0.6 at the step after n0's spike
    assert trace.output[:, 0, 0].tolist() == [0, 1, 0, 0, 0, 0]
    assert trace.output[:, 0, 1].tolist() == [0, 0, 0, 0, 0, 0]
    v = trace.records["Reservoir.v"][:, 0]
    assert torch.allclose(v[:, 0], torch.tensor([0.8, 0.0, 0.0, 0.8, 0.4, 0.2], dtype=torch.float64))
    assert torch.allclose(v[:, 1], torch.tensor([0.0, 0.0, 0.6, 0.3, 0.15, 0.075], dtype=torch.float64))


@pytest.mark.parametrize("reset", ["hard", "subtract"])
@pytest.mark.parametrize("dense_above", [0.0, 1.0])  # dense products / event products
def test_matches_lif_reference(reset: str, dense_above: float) -> None:
    g = torch.Generator().manual_seed(1)
    w_in = torch.randn(12, 30, generator=g, dtype=torch.float64) * 0.8
    w_rec = torch.randn(30, 30, generator=g, dtype=torch.float64) * 0.3
    x = (torch.rand(25, 4, 12, generator=g) < 0.3).double()
    res = Reservoir.from_weights(w_in, w_rec, decay=0.9, v_threshold=1.0, reset=reset,
                                 dense_above=dense_above).double()
    with backends.use("reference"):  # pins the torch specification
        spikes, state = res(x)
    ref_spikes, ref_v = _reference(x, w_in, w_rec, 0.9, 1.0, reset)
    assert spikes.sum() > 20
    torch.testing.assert_close(spikes, ref_spikes)
    torch.testing.assert_close(state.v, ref_v)


@pytest.mark.parametrize("kernel", ["torch", "numba"])
@pytest.mark.parametrize("rec_density", [1.0, 0.2])  # a dense and a sparse recurrent matrix
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_kernels_agree(kernel: str, rec_density: float, dtype: torch.dtype) -> None:
    if kernel == "numba" and kernels.numba_available() is not None:
        pytest.skip(kernels.numba_available())
    g = torch.Generator().manual_seed(2)
    w_in = (torch.randn(20, 40, generator=g, dtype=torch.float64) * 0.7).to(dtype)
    w_rec = (torch.randn(40, 40, generator=g, dtype=torch.float64) * 0.4
             * (torch.rand(40, 40, generator=g) < rec_density)).to(dtype)
    x = (torch.rand(30, 3, 20, generator=g) < 0.25).to(dtype)
    x[5, 1, 3] = 2.0  # a non-binary input value
    v0, s0 = torch.zeros(3, 40, dtype=dtype), (torch.rand(3, 40, generator=g) < 0.3).to(dtype)
    for subtract in (False, True):
        spikes, v, vs = kernels.KERNELS[kernel].fn(x, w_in, w_rec, v0, s0, decay=0.8, v_threshold=1.0,
                                                  v_reset=-0.1, subtract=subtract, record_v=True)
        ref_spikes, ref_v, ref_vs = kernels.run_torch(x.double(), w_in.double(), w_rec.double(), v0.double(),
                                                      s0.double(), decay=0.8, v_threshold=1.0, v_reset=-0.1,
                                                      subtract=subtract, record_v=True, dense_above=0.0)
        assert 50 < spikes.sum() < spikes.numel() - 50
        torch.testing.assert_close(spikes.double(), ref_spikes)
        torch.testing.assert_close(v.double(), ref_v, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(vs.double(), ref_vs, rtol=1e-5, atol=1e-5)


def test_deterministic_under_seed() -> None:
    x = (torch.rand(30, 3, 20) < 0.2).float()
    a = Reservoir(20, 40, v_threshold=1.0, weights=GaussianWeights(0.4), seed=7)
    b = Reservoir(20, 40, v_threshold=1.0, weights=GaussianWeights(0.4), seed=7)
    c = Reservoir(20, 40, v_threshold=1.0, weights=GaussianWeights(0.4), seed=8)
    assert torch.equal(a.input.weight, b.input.weight) and torch.equal(a.recurrent.weight, b.recurrent.weight)
    assert not torch.equal(a.input.weight, c.input.weight)
    sa, sb = a(x)[0], b(x)[0]
    assert sa.sum() > 0 and torch.equal(sa, sb)
    # the seed, not the global RNG, decides the weights
    torch.manual_seed(123)
    assert torch.equal(Reservoir(20, 40, seed=7).input.weight, Reservoir(20, 40, seed=7).input.weight)


@settings(max_examples=30)
@given(st.integers(0, 2**16), st.integers(1, 4), st.floats(0.05, 0.6))
def test_invariants(seed: int, batch: int, density: float) -> None:
    g = torch.Generator().manual_seed(seed)
    x = (torch.rand(15, batch, 8, generator=g) < density).float()
    res = Reservoir(8, 20, v_threshold=1.0, weights=GaussianWeights(0.7), seed=seed)
    spikes, _ = res(x)
    assert set(spikes.unique().tolist()) <= {0.0, 1.0}
    # batch independence: each sample alone gives the same spikes
    for b in range(batch):
        torch.testing.assert_close(res(x[:, b:b + 1])[0][:, 0], spikes[:, b])
    # causality: changing the input from step 10 on leaves steps < 10 unchanged
    y = x.clone()
    y[10:] = 1 - y[10:]
    assert torch.equal(res(y)[0][:10], spikes[:10])


@settings(max_examples=40)
@given(st.integers(0, 2**16), st.floats(0.0, 1.0))
def test_event_matmul_matches_dense(seed: int, density: float) -> None:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(7, 11, generator=g, dtype=torch.float64) * (torch.rand(7, 11, generator=g) < density)
    w = torch.randn(11, 5, generator=g, dtype=torch.float64)
    torch.testing.assert_close(event_matmul(x, w, dense_above=1.0), x @ w)
    torch.testing.assert_close(event_matmul((x != 0).double(), w, dense_above=1.0), (x != 0).double() @ w)


def test_connectivity_kinds() -> None:
    g = torch.Generator().manual_seed(0)
    m = recurrent_mask(400, Connectivity("random", p=0.1), generator=g)
    assert abs(m.float().mean().item() - 0.1) < 0.01 and not m.diagonal().any()
    assert recurrent_mask(5, Connectivity("dense", self_connections=True)).all()
    # distance-based on a 1-d grid of 50: neighbours connect far more often than distant pairs
    conn = Connectivity("distance", grid=(50, 1, 1), lam=2.0, c_ee=1.0)
    mask = torch.stack([recurrent_mask(50, conn, generator=g) for _ in range(20)]).float().mean(0)
    near = torch.stack([mask[i, i + 1] for i in range(49)]).mean()
    far = torch.stack([mask[i, i + 10] for i in range(40)]).mean()
    assert near > 0.6 and far == 0.0   # exp(-(1/2)^2) = 0.78; exp(-25) ~ 1e-11
    with pytest.raises(ConfigError, match="holds 12 points"):
        recurrent_mask(10, Connectivity("distance", grid=(3, 4)))
    with pytest.raises(ConfigError):
        Connectivity("ring")


def test_dale_and_spectral_radius() -> None:
    conn = Connectivity("random", p=0.2, excitatory_fraction=0.8, spectral_radius=0.9)
    res = Reservoir(10, 100, connectivity=conn, seed=3)
    w = res.recurrent.weight
    exc = res.excitatory
    assert exc.sum() == 80
    assert (w[exc] >= 0).all() and (w[~exc] <= 0).all()
    assert res.spectral_radius == pytest.approx(0.9, rel=1e-6)


def test_features_and_extraction() -> None:
    s = torch.tensor([[[1.0, 0.0]], [[1.0, 1.0]], [[0.0, 1.0]], [[1.0, 0.0]]])  # (4, 1, 2)
    assert FEATURES["counts"](s, None, 1).tolist() == [[3.0, 2.0]]
    assert FEATURES["binned"](s, None, 2).tolist() == [[2.0, 1.0, 1.0, 1.0]]
    res = Reservoir(6, 10, v_threshold=0.5, weights=GaussianWeights(0.5), seed=0)
    data = [((torch.rand(12, 6) < 0.4).float(), i % 2) for i in range(7)]
    feats = extract_features(res, data, "counts+membrane", batch_size=3)
    assert feats.x.shape == (7, 20) and feats.y.tolist() == [0, 1, 0, 1, 0, 1, 0]
    one = reservoir_features(res, data[4][0].unsqueeze(1), "counts+membrane")
    torch.testing.assert_close(feats.x[4:5], one)
    assert 0.0 < feats.firing_rate < 1.0


def test_diagnostics() -> None:
    spikes = torch.zeros(10, 2, 4)
    spikes[:, :, 0] = 1.0
    spikes[:5, 0, 1] = 1.0
    stats = firing_stats(spikes)
    assert stats.rate == pytest.approx((1.0 + 0.25) / 4)
    assert stats.silent == 0.5 and stats.saturated == 0.25
    x = torch.tensor([[0.0, 0.0], [0.0, 2.0], [3.0, 1.0], [3.0, 1.0]])
    assert separation(x, torch.tensor([0, 0, 1, 1])) == pytest.approx(1.0)


def test_count_ops_spikes_times_fan_out() -> None:
    w_in = torch.tensor([[1.0, 0.0, 2.0]])
    w_rec = torch.tensor([[0.0, 1.0, 1.0], [0.0, 0.0, 0.0], [1.0, 0.0, 0.0]])  # fan-out 2, 0, 1
    res = Reservoir.from_weights(w_in, w_rec, decay=0.0, v_threshold=0.5)
    x = torch.tensor([1.0, 0.0, 1.0, 1.0]).reshape(4, 1, 1)
    counts = count_ops(res, x)
    spikes = res(x)[0][:, 0]
    # input events (3) drive 2 existing input synapses each
    assert counts["input"].synops == 6.0 and counts["input"].macs == 4 * 3
    # recurrent: every spike of step t-1 drives its fan-out at step t
    fan = torch.tensor([2.0, 0.0, 1.0])
    assert counts["recurrent"].synops == float((spikes[:-1] @ fan).sum())
    assert counts["Reservoir"].spikes == float(spikes.sum()) and counts["Reservoir"].state_updates == 12


def test_errors_and_model_registry() -> None:
    res = Reservoir(8, 5)
    with pytest.raises(ShapeError, match="expected 8"):
        res(torch.zeros(3, 2, 9))
    with pytest.raises(ShapeError, match="time-major"):
        res(torch.zeros(3, 8))
    net = build_model({"name": "lsm", "n_neurons": 12, "seed": 0, "connectivity": {"kind": "random", "p": 0.5}},
                      (2, 4), 3)
    out = simulate(net, torch.ones(6, 2, 2, 4)).output
    assert out.shape == (6, 2, 3)
    assert sum(p.numel() for p in net.parameters()) == 12 * 3 + 3


def test_kernel_selection() -> None:
    x, w = torch.zeros(2, 1, 3), torch.zeros(3, 4)
    with backends.use("reference"):
        assert kernels.select(x, w)[0] == "torch"
    expected = "numba" if kernels.numba_available() is None else "torch"
    assert kernels.select(x, w)[0] == expected
    assert kernels.select(x, w.to(torch.float16))[0] == "torch"  # the kernel takes float32/float64 only
