"""SpikingMaxPool2d: the fused neuron + max pool against the neuron and ``F.max_pool2d`` run separately."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from neuro import IF, LIF, PLIF, CubaLIF, Sequential, backends, simulate
from neuro.core.reset import resolve_reset
from neuro.core.surrogate import resolve_surrogate
from neuro.errors import ConfigError, ShapeError
from neuro.layers import SpikingMaxPool2d
from neuro.neurons import ALIF

pytest.importorskip("numba")


def _currents(shape, scale=2.0, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(shape, generator=g, dtype=torch.float64) * scale).to(dtype)


def _run(layer, x, fused, state=None):
    """Output, final state and gradients (input, initial state, parameters) of a weighted loss."""
    layer.zero_grad()
    x = x.detach().clone().requires_grad_()
    if state is not None:
        state = type(state)(*(f.detach().clone().requires_grad_() for f in state))
    if fused:
        out, final = layer(x, state)
    else:  # the neuron, then torch's own max pool over every step
        spikes, final = layer.neuron(x, state)
        out = F.max_pool2d(spikes.flatten(0, -4), layer.kernel_size).view(*spikes.shape[:-2], *out_hw(spikes, layer))
    w = torch.linspace(-1, 1, out.numel(), dtype=out.dtype).view_as(out)
    ((out * w).sum() + sum(f.sum() * 0.3 for f in final)).backward()
    grads = [x.grad] + ([f.grad for f in state] if state is not None else [])
    grads += [p.grad.clone() for p in layer.parameters() if p.grad is not None]
    return out.detach(), [f.detach() for f in final], grads


def out_hw(spikes, layer):
    k = layer.kernel_size
    return spikes.shape[-2] // k, spikes.shape[-1] // k


def _assert_same(fused, separate):
    assert torch.equal(fused[0], separate[0])
    assert len(fused[2]) == len(separate[2])
    for a, b in zip(fused[1] + fused[2], separate[1] + separate[2], strict=True):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


def _counting(monkeypatch):
    from neuro.backends import _fused_lif_pool

    calls = []
    original = _fused_lif_pool._LIFPoolSequence.apply
    monkeypatch.setattr(_fused_lif_pool._LIFPoolSequence, "apply", lambda *a: calls.append(1) or original(*a))
    return calls


@pytest.mark.parametrize("neuron", [
    LIF(tau_mem=2e-3, learn_tau=True, learn_threshold=True),
    LIF(reset=resolve_reset({"name": "subtract", "delayed": True}), detach_reset=True),
    LIF(tau_mem=2e-3, surrogate=resolve_surrogate("sigmoid"), detach_reset=True),
    PLIF(init_tau_mem=2e-3),
    IF(),
    CubaLIF(tau_syn=2e-3, tau_mem=3e-3, learn_tau=True),
], ids=["lif", "lif-delayed", "lif-sigmoid", "plif", "if", "cuba"])
@pytest.mark.parametrize("k, hw", [(2, (10, 10)), (2, (11, 9)), (3, (9, 10)), (1, (3, 4))])
def test_fused_equals_neuron_then_max_pool(neuron, k, hw, monkeypatch):
    calls = _counting(monkeypatch)
    layer = SpikingMaxPool2d(k, neuron=neuron).double()
    x = _currents((7, 2, 3, *hw), 3.0) - 1.2  # negative currents too: IF's windows are not all firing
    state = neuron.initial_state(x[0])
    state = type(state)(*(torch.rand_like(f) * 0.5 for f in state))  # a non-resting initial state
    fused = _run(layer, x, True, state)
    assert calls, "the fused operation did not run"
    separate = _run(layer, x, False, state)
    assert 0 < fused[0].mean() < 1  # windows with and without a spike
    _assert_same(fused, separate)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_ties_and_silent_windows_route_the_gradient_as_torch_does(dtype, monkeypatch):
    """Binary windows with several spikes (the first one gets the gradient) or none (the first neuron does), in
    float32 and float64, on sparse to nearly saturated spike maps."""
    calls = _counting(monkeypatch)
    layer = SpikingMaxPool2d(2, neuron=LIF(tau_mem=2e-3, detach_reset=True)).to(dtype)
    for scale in (0.8, 1.6, 3.0):  # sparse, mixed and nearly all-firing maps
        x = _currents((5, 3, 2, 6, 8), scale, seed=int(scale * 10), dtype=dtype)
        fused, separate = _run(layer, x, True), _run(layer, x, False)
        assert torch.equal(fused[0], separate[0])
        assert torch.equal(fused[2][0], separate[2][0])  # the same float operations: bit-identical
    assert len(calls) == 3


def test_non_finite_gradients_stay_in_their_window():
    """A window's gradient is routed, not multiplied by a 0/1 mask: an inf reaches only the window's maximum."""
    layer = SpikingMaxPool2d(2, neuron=LIF(tau_mem=2e-3, detach_reset=True)).double()
    x = _currents((3, 1, 1, 4, 4), 1.5).requires_grad_()
    out, _ = layer(x)
    g = torch.zeros_like(out)
    g[-1, 0, 0, 0, 0] = float("inf")
    out.backward(g)
    ref = x.detach().clone().requires_grad_()
    s, _ = layer.neuron(ref)
    F.max_pool2d(s.flatten(0, 1), 2).view_as(out).backward(g)
    assert torch.equal(x.grad.isfinite(), ref.grad.isfinite())
    assert x.grad[:, :, :, 2:, :].eq(0).all() and x.grad[:, :, :, :, 2:].eq(0).all()


@settings(max_examples=25, deadline=None)
@given(t=st.integers(1, 5), b=st.integers(1, 3), c=st.integers(1, 3), h=st.integers(2, 9), w=st.integers(2, 9),
       k=st.integers(1, 3), scale=st.floats(0.5, 3.0), seed=st.integers(0, 1000))
def test_any_shape_equals_the_separate_modules(t, b, c, h, w, k, scale, seed):
    if min(h, w) < k:
        return
    layer = SpikingMaxPool2d(k, neuron=LIF(tau_mem=2e-3, detach_reset=True)).double()
    x = _currents((t, b, c, h, w), scale, seed)
    _assert_same(_run(layer, x, True), _run(layer, x, False))


def test_four_dimensional_input_and_state_carry_over():
    layer = SpikingMaxPool2d(2, neuron=LIF(tau_mem=2e-3)).double()
    x = _currents((10, 2, 6, 6))  # (T, B, H, W): one plane per sample
    with torch.no_grad():
        whole, _ = layer(x)
        first, state = layer(x[:4])
        second, _ = layer(x[4:], state)
    assert whole.shape == (10, 2, 3, 3) and whole.sum() > 0
    assert torch.equal(whole, torch.cat([first, second]))


def test_other_paths_run_the_two_modules(monkeypatch):
    calls = _counting(monkeypatch)
    x = _currents((6, 2, 3, 8, 8))
    layer = SpikingMaxPool2d(2, neuron=LIF(tau_mem=2e-3)).double()
    expected = F.max_pool2d(layer.neuron(x)[0].flatten(0, 1), 2).view(6, 2, 3, 4, 4)
    with backends.use("reference"):
        assert torch.equal(layer(x)[0], expected)
    assert torch.equal(layer(x.transpose(-1, -2).contiguous().transpose(-1, -2))[0], expected)  # not contiguous
    alif = SpikingMaxPool2d(2, neuron=ALIF()).double()
    assert alif(x)[0].shape == (6, 2, 3, 4, 4)
    assert not calls
    trace = simulate(Sequential(layer), x, record=True)  # records the neuron's states: unfused
    assert "0.neuron.v" in trace.records and not calls
    assert torch.equal(layer(x)[0], expected) and calls


def test_errors():
    with pytest.raises(ConfigError, match="kernel_size"):
        SpikingMaxPool2d(0)
    with pytest.raises(ConfigError, match="kernel_size"):
        SpikingMaxPool2d((2, 2))
    with pytest.raises(TypeError, match="sequence module"):
        SpikingMaxPool2d(2, neuron=torch.nn.ReLU())
    layer = SpikingMaxPool2d(3)
    with pytest.raises(ShapeError, match=r"\(T, B, \.\.\., H, W\)"):
        layer(torch.zeros(4, 2, 8))
    with pytest.raises(ShapeError, match="H, W >= 3"):
        layer(torch.zeros(4, 2, 1, 2, 8))


@pytest.mark.parametrize("hw", [(70, 66), (47, 47)])  # planes larger than a kernel block of neurons
def test_large_planes(hw, monkeypatch):
    calls = _counting(monkeypatch)
    layer = SpikingMaxPool2d(2, neuron=LIF(tau_mem=2e-3, detach_reset=True))
    x = _currents((3, 2, 1, *hw), 1.5, dtype=torch.float32)
    _assert_same(_run(layer, x, True), _run(layer, x, False))
    assert calls


def test_empty_batch_runs_the_two_modules(monkeypatch):
    calls = _counting(monkeypatch)
    layer = SpikingMaxPool2d(2, neuron=LIF(tau_mem=2e-3))
    out, state = layer(torch.zeros(4, 0, 3, 6, 6))
    assert out.shape == (4, 0, 3, 3, 3) and state.v.shape == (0, 3, 6, 6) and not calls
