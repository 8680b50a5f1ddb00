"""The same architecture built in neuro, snnTorch and SpikingJelly gives the same operation counts."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from neuro import LIF, Sequential
from neuro.analysis import count_ops

snn = pytest.importorskip("snntorch")
snn_utils = pytest.importorskip("snntorch.utils")
sj_layer = pytest.importorskip("spikingjelly.activation_based.layer")
sj_neuron = pytest.importorskip("spikingjelly.activation_based.neuron")
sj_functional = pytest.importorskip("spikingjelly.activation_based.functional")

T, B = 12, 4
# Fields compared: every operation and memory count. Not compared: the class name, the number of
# calls (snnTorch is stepped, one call per step) and activation bytes (input formats are judged per call).
FIELDS = ("kind", "macs", "synops", "input_events", "input_elements", "input_binary", "row_activations", "outputs",
          "state_updates", "state_vars", "spikes", "params", "weight_read_bytes", "state_read_bytes",
          "state_write_bytes")


def _linears(seed: int = 0) -> tuple[nn.Linear, nn.Linear]:
    torch.manual_seed(seed)
    fc1, fc2 = nn.Linear(6, 8), nn.Linear(8, 3)
    with torch.no_grad():
        fc1.weight.mul_(3.0)  # enough drive for both layers to spike
        fc2.weight.mul_(3.0)
    return fc1, fc2


def _x() -> torch.Tensor:
    return (torch.rand(T, B, 6, generator=torch.Generator().manual_seed(1)) < 0.5).float()


def _assert_same(a, b) -> None:
    assert [x.name for x in a] == [x.name for x in b]
    for la, lb in zip(a, b, strict=True):
        for field in FIELDS:
            assert getattr(la, field) == getattr(lb, field), (la.name, field)
    assert a.total("spikes") > 0 and a["2"].synops > 0


def test_counts_equal_snntorch() -> None:
    fc1, fc2 = _linears()
    beta = 0.8
    net_snn = nn.Sequential(fc1, snn.Leaky(beta=beta, init_hidden=True), fc2, snn.Leaky(beta=beta, init_hidden=True))
    fc1b, fc2b = _linears()
    net_neuro = Sequential(fc1b, LIF.from_snntorch(beta=beta), fc2b, LIF.from_snntorch(beta=beta))
    snn_utils.reset(net_snn)
    c_snn = count_ops(net_snn, _x(), run="steps")
    c_neuro = count_ops(net_neuro, _x())
    _assert_same(c_neuro, c_snn)


def test_counts_equal_spikingjelly() -> None:
    fc1, fc2 = _linears()
    net_sj = nn.Sequential(sj_layer.Linear(6, 8), sj_neuron.LIFNode(tau=2.0), sj_layer.Linear(8, 3),
                           sj_neuron.LIFNode(tau=2.0))
    net_sj[0].load_state_dict(fc1.state_dict())
    net_sj[2].load_state_dict(fc2.state_dict())
    sj_functional.set_step_mode(net_sj, "m")
    sj_functional.reset_net(net_sj)
    net_neuro = Sequential(fc1, LIF.from_spikingjelly(tau=2.0), fc2, LIF.from_spikingjelly(tau=2.0))
    c_sj = count_ops(net_sj, _x(), run="sequence")
    c_neuro = count_ops(net_neuro, _x())
    _assert_same(c_neuro, c_sj)


def test_spikingjelly_multistep_conv_folds_time() -> None:
    conv = sj_layer.Conv2d(2, 4, 3, padding=1, step_mode="m")
    x = (torch.rand(T, B, 2, 6, 6, generator=torch.Generator().manual_seed(2)) < 0.3).float()
    ref = nn.Conv2d(2, 4, 3, padding=1)
    ref.load_state_dict(conv.state_dict())
    c_sj = count_ops(conv, x, run="sequence")
    c_neuro = count_ops(Sequential(ref), x)
    assert c_sj[type(conv).__name__].synops == c_neuro["0"].synops > 0
    assert c_sj[type(conv).__name__].macs == c_neuro["0"].macs == T * 4 * 36 * 2 * 9
