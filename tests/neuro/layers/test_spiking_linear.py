"""SpikingLinear: the fused event-driven synapse + neuron against the two modules run separately."""

from __future__ import annotations

import pytest
import torch

from neuro import LIF, PLIF, CubaLIF, Sequential, backends, simulate
from neuro.core.reset import resolve_reset
from neuro.errors import ConfigError, ShapeError
from neuro.layers import SpikingLinear

pytest.importorskip("numba")


def _spikes(shape, density, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(shape, generator=g, dtype=torch.float64) < density).double()


def _run(layer, x, fused, state=None):
    layer.zero_grad()
    x = x.detach().clone().requires_grad_()
    if fused:
        out, final = layer(x, state)
    else:  # the same two modules one after the other
        out, final = layer.neuron(layer.linear(x), state)
    w = torch.linspace(-1, 1, out.numel(), dtype=out.dtype).view_as(out)
    ((out * w).sum() + sum(f.sum() * 0.3 for f in final)).backward()
    grads = [x.grad] + [p.grad.clone() for p in layer.parameters() if p.grad is not None]
    return out.detach(), [f.detach() for f in final], grads


@pytest.mark.parametrize("neuron", [
    LIF(tau_mem=3e-3, learn_tau=True, learn_threshold=True),
    LIF(reset=resolve_reset({"name": "subtract", "delayed": True}), detach_reset=True),
    PLIF(init_tau_mem=4e-3),
    CubaLIF(tau_syn=3e-3, tau_mem=4e-3, learn_tau=True),
], ids=["lif", "lif-delayed", "plif", "cuba"])
@pytest.mark.parametrize("recompute", [False, True], ids=["keep", "recompute"])
def test_fused_equals_separate_modules(neuron, recompute, monkeypatch):
    from neuro.backends import _fused_spiking

    calls = []
    original = _fused_spiking._SpikingLinear.apply
    monkeypatch.setattr(_fused_spiking._SpikingLinear, "apply", lambda *a: calls.append(1) or original(*a))
    # 300 outputs: the column-chunked gathers, and with recompute four full blocks of 64 neurons and a part block
    layer = SpikingLinear(40, 300, neuron=neuron, recompute=recompute).double()
    with torch.no_grad():
        layer.linear.weight.mul_(8)
    x = _spikes((9, 3, 40), 0.1)
    fused, separate = _run(layer, x, True), _run(layer, x, False)
    assert calls, "the fused operation did not run"
    assert torch.equal(fused[0], separate[0]) and fused[0].sum() > 0
    for a, b in zip(fused[1] + fused[2], separate[1] + separate[2], strict=True):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


def test_dense_inputs_recording_and_reference_use_the_modules():
    layer = SpikingLinear(30, 12).double()
    dense = _spikes((6, 2, 30), 0.6)
    out, _ = layer(dense)
    torch.testing.assert_close(out, layer.neuron(layer.linear(dense))[0])
    trace = simulate(Sequential(layer), _spikes((6, 2, 30), 0.05), record=True)  # records the neuron's states
    assert "0.neuron.v" in trace.records
    with backends.use("reference"):
        assert layer(dense)[0].shape == (6, 2, 12)


def test_state_carries_over_and_errors():
    layer = SpikingLinear(20, 5).double()
    x = _spikes((10, 2, 20), 0.1)
    with torch.no_grad():
        whole, _ = layer(x)
        first, state = layer(x[:4])
        second, _ = layer(x[4:], state)
    assert torch.equal(whole, torch.cat([first, second]))
    with pytest.raises(ShapeError):
        layer(torch.zeros(3, 20))
    with pytest.raises(TypeError, match="sequence module"):
        SpikingLinear(3, 2, neuron=torch.nn.ReLU())


def test_recompute_keeps_no_currents_and_saves_memory_of_one_buffer():
    x = _spikes((16, 4, 60), 0.1)
    nodes = {}
    for recompute in (False, True):
        torch.manual_seed(0)
        layer = SpikingLinear(60, 200, recompute=recompute).double()
        out, _ = layer(x)
        node = out.grad_fn.next_functions[0][0]  # the fused operation under the reshape
        nodes[recompute] = node
        assert type(node).__name__ == "_SpikingLinearBackward"
    assert nodes[False].y.shape == (16, 4 * 200)  # the kept currents, overwritten by their gradient later
    assert not hasattr(nodes[True], "y")
    with pytest.raises(ConfigError, match="recompute"):
        SpikingLinear(3, 2, recompute=1)


def test_recompute_state_carries_over():
    layer = SpikingLinear(20, 70, recompute=True).double()
    with torch.no_grad():
        layer.linear.weight.mul_(6)
    x = _spikes((10, 2, 20), 0.1)
    whole, _ = layer(x)
    first, state = layer(x[:4])
    second, _ = layer(x[4:], state)
    assert whole.sum() > 0 and torch.equal(whole, torch.cat([first, second]))
