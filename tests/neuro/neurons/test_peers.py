"""Exact equivalence with the real snnTorch and SpikingJelly packages (not copies of their formulas)."""

from __future__ import annotations

import pytest
import torch

from neuro import IF, LIF, PLIF, Sequential, simulate
from neuro.core.surrogate import ATan, Sigmoid

snn = pytest.importorskip("snntorch")
sj_neuron = pytest.importorskip("spikingjelly.activation_based.neuron")
sj_surrogate = pytest.importorskip("spikingjelly.activation_based.surrogate")

T, B, N = 40, 3, 17


def _x(seed: int = 0, mean: float = 0.3, std: float = 0.8) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(T, B, N, generator=g) * std + mean


def _weights() -> torch.Tensor:
    return torch.linspace(0.5, 1.5, T).view(T, 1, 1)  # a time-varying loss so gradients flow through time


def _neuro(module, x):
    trace = simulate(Sequential(module), x, record=["0"])
    return trace.output, trace["0.v"]


@pytest.mark.parametrize("mechanism", ["subtract", "zero", "none"])
@pytest.mark.parametrize("beta", [0.5, 0.9])
def test_lif_equals_snntorch_leaky(mechanism: str, beta: float) -> None:
    xs, xn = _x().requires_grad_(True), _x().requires_grad_(True)
    leaky = snn.Leaky(beta=beta, threshold=1.0, reset_mechanism=mechanism)
    mem = leaky.reset_mem()
    spikes, mems = [], []
    for x_t in xs.unbind(0):
        s, mem = leaky(x_t, mem)
        spikes.append(s)
        mems.append(mem)
    s_ref, v_ref = torch.stack(spikes), torch.stack(mems)
    s, v = _neuro(LIF.from_snntorch(beta=beta, threshold=1.0, reset_mechanism=mechanism), xn)
    assert 0.05 < float(s_ref.detach().mean()) < 0.9
    torch.testing.assert_close(s, s_ref, atol=0, rtol=0)
    torch.testing.assert_close(v, v_ref, atol=1e-6, rtol=0)
    (s_ref * _weights()).sum().backward()
    (s * _weights()).sum().backward()
    torch.testing.assert_close(xn.grad, xs.grad, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize(
    ("decay_input", "v_reset", "detach_reset"),
    [(True, 0.0, True), (True, 0.0, False), (False, 0.0, False), (True, None, False), (False, None, True),
     (True, -0.2, True)],
)
@pytest.mark.parametrize("tau", [2.0, 5.0])
def test_lif_equals_spikingjelly_lifnode(decay_input: bool, v_reset: float | None, detach_reset: bool,
                                         tau: float) -> None:
    xs, xn = _x(mean=0.6, std=1.5).requires_grad_(True), _x(mean=0.6, std=1.5).requires_grad_(True)
    node = sj_neuron.LIFNode(tau=tau, decay_input=decay_input, v_reset=v_reset, detach_reset=detach_reset,
                             surrogate_function=sj_surrogate.Sigmoid(alpha=4.0), step_mode="m", store_v_seq=True)
    s_ref = node(xs)
    v_ref = node.v_seq
    lif = LIF.from_spikingjelly(tau=tau, decay_input=decay_input, v_reset=v_reset, detach_reset=detach_reset,
                                surrogate=Sigmoid(alpha=4.0))
    s, v = _neuro(lif, xn)
    assert 0.02 < float(s_ref.detach().mean()) < 0.9
    torch.testing.assert_close(s, s_ref, atol=0, rtol=0)
    torch.testing.assert_close(v, v_ref, atol=1e-6, rtol=0)
    (s_ref * _weights()).sum().backward()
    (s * _weights()).sum().backward()
    torch.testing.assert_close(xn.grad, xs.grad, atol=1e-5, rtol=1e-4)


def test_atan_surrogate_equals_spikingjelly() -> None:
    xs, xn = _x().requires_grad_(True), _x().requires_grad_(True)
    node = sj_neuron.LIFNode(tau=2.0, surrogate_function=sj_surrogate.ATan(alpha=2.0), step_mode="m")
    s_ref = node(xs)
    s, _ = _neuro(LIF.from_spikingjelly(tau=2.0, surrogate=ATan(alpha=2.0)), xn)
    torch.testing.assert_close(s, s_ref, atol=0, rtol=0)
    (s_ref * _weights()).sum().backward()
    (s * _weights()).sum().backward()
    torch.testing.assert_close(xn.grad, xs.grad, atol=1e-5, rtol=1e-4)


def test_plif_equals_spikingjelly_parametric_lif() -> None:
    xs, xn = _x(mean=0.8, std=1.5).requires_grad_(True), _x(mean=0.8, std=1.5).requires_grad_(True)
    node = sj_neuron.ParametricLIFNode(init_tau=3.0, surrogate_function=sj_surrogate.Sigmoid(alpha=4.0),
                                       step_mode="m", store_v_seq=True)
    s_ref = node(xs)
    plif = PLIF(init_tau_mem=3e-3, surrogate=Sigmoid(alpha=4.0))
    s, v = _neuro(plif, xn)
    torch.testing.assert_close(s, s_ref, atol=0, rtol=0)
    torch.testing.assert_close(v, node.v_seq, atol=1e-6, rtol=0)
    (s_ref * _weights()).sum().backward()
    (s * _weights()).sum().backward()
    torch.testing.assert_close(xn.grad, xs.grad, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(plif.w.grad, node.w.grad, atol=1e-4, rtol=1e-4)


def test_if_equals_spikingjelly_ifnode() -> None:
    xs, xn = _x().requires_grad_(True), _x().requires_grad_(True)
    node = sj_neuron.IFNode(surrogate_function=sj_surrogate.Sigmoid(alpha=4.0), step_mode="m", store_v_seq=True)
    s_ref = node(xs)
    s, v = _neuro(IF(surrogate=Sigmoid(alpha=4.0)), xn)
    torch.testing.assert_close(s, s_ref, atol=0, rtol=0)
    torch.testing.assert_close(v, node.v_seq, atol=1e-6, rtol=0)
    (s_ref * _weights()).sum().backward()
    (s * _weights()).sum().backward()
    torch.testing.assert_close(xn.grad, xs.grad, atol=1e-5, rtol=1e-4)


def test_cuba_lif_equals_snntorch_synaptic() -> None:
    from neuro import CubaLIF

    alpha, beta = 0.7, 0.85
    xs, xn = _x().requires_grad_(True), _x().requires_grad_(True)
    syn_model = snn.Synaptic(alpha=alpha, beta=beta, threshold=1.0, reset_mechanism="subtract")
    syn, mem = syn_model.reset_mem()
    spikes, mems = [], []
    for x_t in xs.unbind(0):
        s, syn, mem = syn_model(x_t, syn, mem)
        spikes.append(s)
        mems.append(mem)
    s_ref, v_ref = torch.stack(spikes), torch.stack(mems)
    dt = 1e-3
    cuba = CubaLIF(tau_syn=dt / (1 - alpha), tau_mem=dt / (1 - beta), decay_input=False, dt=dt,
                   reset={"name": "subtract", "delayed": True}, detach_reset=True)
    s, v = _neuro(cuba, xn)
    assert float(s_ref.detach().mean()) > 0.05
    torch.testing.assert_close(s, s_ref, atol=0, rtol=0)
    torch.testing.assert_close(v, v_ref, atol=1e-5, rtol=0)
    (s_ref * _weights()).sum().backward()
    (s * _weights()).sum().backward()
    torch.testing.assert_close(xn.grad, xs.grad, atol=1e-4, rtol=1e-3)
