"""Golden numbers of the neuro <-> NIR parameter conversions, and their exact inversion (hypothesis)."""

from __future__ import annotations

import nir
import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from neuro import IF, LI, LIF, CubaLIF, Sequential, simulate
from neuro.interop.nir import from_nir, retime, to_nir


def _node(model: torch.nn.Module, shape: tuple[int, ...] = (2,)) -> nir.NIRNode:
    g = to_nir(Sequential(model), torch.zeros(1, 1, *shape))
    (node,) = [n for n in g.nodes.values() if not isinstance(n, nir.Input | nir.Output)]
    return node


def test_lif_golden_conversion() -> None:
    node = _node(LIF(tau_mem=2e-3, r=1.0, v_leak=0.1, v_threshold=0.9, v_reset=-0.2, dt=1e-3, decay_input=False))
    # per-step gain r = 1 is (dt / tau) * R, so R = r * tau / dt = 2
    assert node.tau.tolist() == [2e-3, 2e-3] and node.r.tolist() == [2.0, 2.0]
    assert node.v_leak.tolist() == [0.1, 0.1] and node.v_threshold.tolist() == [0.9, 0.9]
    assert node.v_reset.tolist() == [-0.2, -0.2]
    assert node.metadata["dt"] == 1e-3 and node.metadata["neuro"]["decay_input"] is False
    assert _node(LIF(tau_mem=2e-3, r=1.5, decay_input=True)).r.tolist() == [1.5, 1.5]


def test_if_cuba_li_golden_conversion() -> None:
    assert _node(IF(r=0.5, dt=1e-3)).r.tolist() == [500.0, 500.0]  # dv/dt = R I, per-step gain R * dt
    cuba = _node(CubaLIF(tau_syn=5e-3, tau_mem=1e-2, w_in=1.0, r=1.0, dt=1e-3, decay_input=False))
    assert cuba.w_in.tolist() == [5.0, 5.0] and cuba.r.tolist() == [10.0, 10.0]
    li = _node(LI(tau_mem=4e-3, r=2.0, dt=1e-3, decay_input=False))
    assert li.tau.tolist() == [4e-3, 4e-3] and li.r.tolist() == [8.0, 8.0]


def test_imported_lif_follows_nir_equation_by_hand() -> None:
    # tau = 2 ms at dt = 1 ms: v_t = v + 0.5 (v_leak - v) + 0.5 R x; with R = 1, x = 1.2, v_th = 1:
    # v: 0.6, 0.9, 1.05 -> spike, reset to 0, 0.6, 0.9 ...
    g = nir.NIRGraph.from_list(nir.LIF(tau=np.array([2e-3]), r=np.array([1.0]), v_leak=np.array([0.0]),
                                       v_threshold=np.array([1.0]), v_reset=np.array([0.0])))
    trace = simulate(from_nir(g, dt=1e-3), torch.full((5, 1, 1), 1.2), record=True)
    assert trace.output.flatten().tolist() == [0.0, 0.0, 1.0, 0.0, 0.0]
    assert trace["0.v"].flatten().tolist() == pytest.approx([0.6, 0.9, 0.0, 0.6, 0.9])


def test_imported_if_uses_r_times_dt() -> None:
    g = nir.NIRGraph.from_list(nir.IF(r=np.array([250.0]), v_threshold=np.array([1.0])))
    out = simulate(from_nir(g, dt=2e-3), torch.ones(4, 1, 1)).output  # per-step gain 0.5
    assert out.flatten().tolist() == [0.0, 1.0, 0.0, 1.0]


_taus = st.floats(1.1e-4, 1.0, allow_nan=False)
_gains = st.floats(1e-3, 1e3, allow_nan=False)


@given(tau=_taus, r=_gains, w_in=_gains, dt=st.sampled_from([1e-4, 1e-3, 5e-4, 3e-4]), decay=st.booleans())
def test_scalar_parameters_invert_exactly(tau: float, r: float, w_in: float, dt: float, decay: bool) -> None:
    tau = max(tau, 1.01 * dt)
    m = CubaLIF(tau_syn=tau, tau_mem=tau * 1.5, r=r, w_in=w_in, dt=dt, decay_input=decay)
    back = from_nir(to_nir(Sequential(m), torch.zeros(1, 1, 3)))[0]
    assert (back.tau_syn, back.tau_mem, back.r, back.w_in, back.dt) == (m.tau_syn, m.tau_mem, m.r, m.w_in, m.dt)
    i = IF(r=r, dt=dt)
    assert from_nir(to_nir(Sequential(i), torch.zeros(1, 1, 3)))[0].r == r


@given(r=_gains, dt=st.sampled_from([1e-4, 1e-3, 3e-4]))
def test_scalar_gain_with_tensor_tau_inverts_exactly(r: float, dt: float) -> None:
    tau = torch.tensor([2.0, 3.0, 7.0]) * dt
    back = from_nir(to_nir(Sequential(LIF(tau_mem=tau, r=r, dt=dt, decay_input=False)), torch.zeros(1, 1, 3)))[0]
    assert back.r == r and torch.equal(back.tau_mem, tau)


def test_retime_keeps_the_discrete_dynamics() -> None:
    net = Sequential(torch.nn.Linear(3, 4), CubaLIF(tau_syn=4e-3, tau_mem=8e-3, dt=1e-3),
                     torch.nn.Linear(4, 2), IF(r=0.5, dt=1e-3))
    with torch.no_grad():
        net[0].module.weight.abs_()
    x = 4 * torch.rand(30, 2, 3)
    g = retime(to_nir(net, x), 1e-4)
    assert g.metadata["dt"] == 1e-4 and g.nodes["cubalif_1"].tau_syn[0] == pytest.approx(4e-4)
    assert g.nodes["if_3"].r[0] == pytest.approx(5000.0)  # per-step gain R * dt stays 0.5
    rebuilt = from_nir(g)
    assert rebuilt[1].dt == 1e-4 and rebuilt[3].r == pytest.approx(0.5)
    a, b = simulate(net.double(), x.double(), record=True), simulate(rebuilt.double(), x.double(), record=True)
    assert a.records["1.spikes"].sum() > 0
    for key in a.records:
        torch.testing.assert_close(a.records[key], b.records[key], rtol=1e-12, atol=1e-12)
