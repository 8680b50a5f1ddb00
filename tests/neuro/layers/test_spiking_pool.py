"""SpikingMaxPool2d / SpikingAvgPool2d and Sequential's own fusion: the fused neuron + pool against the neuron and
``F.max_pool2d`` / ``F.avg_pool2d`` run separately."""

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
from neuro.layers import SpikingAvgPool2d, SpikingMaxPool2d
from neuro.layers.pool import pool_window
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
    else:  # the neuron, then torch's own pool over every step
        spikes, final = layer.neuron(x, state)
        pool = F.max_pool2d if layer.kind == "max" else F.avg_pool2d
        out = pool(spikes.flatten(0, -4), layer.kernel_size).view(*spikes.shape[:-2], *out_hw(spikes, layer))
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
@pytest.mark.parametrize("cls", [SpikingMaxPool2d, SpikingAvgPool2d])
def test_fused_equals_neuron_then_pool(cls, neuron, k, hw, monkeypatch):
    calls = _counting(monkeypatch)
    layer = cls(k, neuron=neuron).double()
    x = _currents((7, 2, 3, *hw), 3.0) - 1.2  # negative currents too: IF's windows are not all firing
    state = neuron.initial_state(x[0])
    state = type(state)(*(torch.rand_like(f) * 0.5 for f in state))  # a non-resting initial state
    fused = _run(layer, x, True, state)
    assert calls, "the fused operation did not run"
    separate = _run(layer, x, False, state)
    assert 0 < fused[0].mean() < 1  # windows with and without a spike
    _assert_same(fused, separate)


@pytest.mark.parametrize("cls", [SpikingMaxPool2d, SpikingAvgPool2d])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_ties_and_silent_windows_route_the_gradient_as_torch_does(cls, dtype, monkeypatch):
    """Binary windows with several spikes (the first one gets the gradient) or none (the first neuron does), in
    float32 and float64, on sparse to nearly saturated spike maps."""
    calls = _counting(monkeypatch)
    layer = cls(2, neuron=LIF(tau_mem=2e-3, detach_reset=True)).to(dtype)
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
       k=st.integers(1, 3), scale=st.floats(0.5, 3.0), seed=st.integers(0, 1000), avg=st.booleans())
def test_any_shape_equals_the_separate_modules(t, b, c, h, w, k, scale, seed, avg):
    if min(h, w) < k:
        return
    layer = (SpikingAvgPool2d if avg else SpikingMaxPool2d)(k, neuron=LIF(tau_mem=2e-3, detach_reset=True)).double()
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


def test_avg_pool_of_float32_with_a_window_of_three(monkeypatch):
    """A 3 x 3 mean divides by 9 (not a power of two): the fused kernels divide as torch does, bit for bit."""
    calls = _counting(monkeypatch)
    layer = SpikingAvgPool2d(3, neuron=LIF(tau_mem=2e-3, detach_reset=True)).float()
    x = _currents((6, 4, 3, 12, 12), 1.6, dtype=torch.float32)
    fused, separate = _run(layer, x, True), _run(layer, x, False)
    assert calls and torch.equal(fused[0], separate[0]) and torch.equal(fused[2][0], separate[2][0])


def test_pool_window():
    assert pool_window(torch.nn.MaxPool2d(2)) == ("max", 2)
    assert pool_window(torch.nn.AvgPool2d((3, 3))) == ("avg", 3)
    from neuro.core.time_distributed import TimeDistributed

    assert pool_window(TimeDistributed(torch.nn.AvgPool2d(2))) == ("avg", 2)
    for other in (torch.nn.MaxPool2d(3, stride=2), torch.nn.MaxPool2d(2, padding=1),
                  torch.nn.AvgPool2d(2, ceil_mode=True), torch.nn.AvgPool2d(2, divisor_override=3),
                  torch.nn.MaxPool2d(2, return_indices=True), torch.nn.MaxPool2d(2, dilation=2),
                  torch.nn.AvgPool2d((2, 3)), torch.nn.Identity()):
        assert pool_window(other) is None


def _net(pool):
    torch.manual_seed(0)
    net = Sequential(torch.nn.Conv2d(2, 4, 3), LIF(tau_mem=2e-3, detach_reset=True), pool,
                     torch.nn.Conv2d(4, 3, 3), CubaLIF(tau_syn=1e-3, tau_mem=3e-3), torch.nn.MaxPool2d(2)).double()
    with torch.no_grad():
        net[3].module.bias.fill_(1.5)  # a second stage that fires too
    return net


@pytest.mark.parametrize("pool", [torch.nn.AvgPool2d(2), torch.nn.MaxPool2d(2)])
def test_sequential_fuses_each_neuron_with_its_pool(pool, monkeypatch):
    calls = _counting(monkeypatch)
    net = _net(pool)
    x = _currents((6, 3, 2, 20, 20), 3.0)
    out, state = net(x)
    out.sum().backward()
    grads = [p.grad.clone() for p in net.parameters()]
    assert len(calls) == 2
    assert state[2] is None and state[5] is None and type(state[1]).__name__ == "LIFState"
    net.zero_grad()
    with backends.use("reference"):  # the two modules, one after the other
        ref, ref_state = net(x)
        ref.sum().backward()
    assert len(calls) == 2 and torch.equal(out, ref) and out.sum() > 0
    for a, b in zip([*grads, *state[1], *state[4]], [*(p.grad for p in net.parameters()), *ref_state[1],
                                                      *ref_state[4]], strict=True):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
    again, _ = net(x[:2], state)  # the carried state goes to the fused operation too
    with backends.use("reference"):
        assert torch.equal(again, net(x[:2], ref_state)[0])


def test_sequential_runs_the_modules_when_watched_or_not_fusable(monkeypatch):
    calls = _counting(monkeypatch)
    x = _currents((4, 2, 2, 12, 12), 3.0)
    padded = _net(torch.nn.MaxPool2d(2, padding=1))
    with torch.no_grad():
        padded(x)
    assert len(calls) == 1  # only the second neuron and its pool
    net = _net(torch.nn.AvgPool2d(2))
    handle = net[2].register_forward_hook(lambda *a: None)  # e.g. count_ops watching the pool
    with torch.no_grad():
        net(x)
    assert len(calls) == 2
    handle.remove()
    trace = simulate(net, x, record=True)  # records the neurons' states: unfused
    assert "1.v" in trace.records and len(calls) == 2
