"""count_ops: hand-computed counts on tiny networks with known spikes, hook hygiene, extension points."""

from __future__ import annotations

import json

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from neuro import IF, LIF, IFCell, Sequential
from neuro.analysis import (
    CallOps,
    CountOptions,
    LayerOps,
    OpCounts,
    count_ops,
    linear_ops,
    sdsa_v1_ops,
    sdsa_v2_ops,
)
from neuro.errors import ConfigError, NeuroError, ShapeError, UnknownNameError

# Input spikes, T = 3 steps, 3 channels; every sample of the batch is the same.
X = torch.tensor([[1.0, 0.0, 1.0], [0.0, 0.0, 0.0], [1.0, 1.0, 1.0]])


def tiny(cell: bool = False) -> Sequential:
    """Linear(3->2) -> IF -> Linear(2->1) -> IF with hand-set weights.

    Currents of layer 0: t0 [1, 1], t1 [0, 0], t2 [2, 1]; with threshold 1 and hard reset the IF
    fires [1, 1], [0, 0], [1, 1]: 4 spikes. Layer 2 sees those 4 spikes.
    """
    fc1, fc2 = nn.Linear(3, 2, bias=False), nn.Linear(2, 1, bias=False)
    with torch.no_grad():
        fc1.weight.copy_(torch.tensor([[1.0, 1.0, 0.0], [0.0, 0.0, 1.0]]))
        fc2.weight.fill_(0.5)
    neuron = IFCell if cell else IF
    return Sequential(fc1, neuron(v_threshold=1.0), fc2, neuron(v_threshold=1.0))


def batch(b: int = 2) -> torch.Tensor:
    return X.unsqueeze(1).expand(3, b, 3).clone()


def test_golden_counts_tiny_network() -> None:
    c = count_ops(tiny(), batch(2))
    assert (c.time_steps, c.batch_size) == (3, 2)
    fc1, if1, fc2, if2 = c["0"], c["1"], c["2"], c["3"]
    assert [x.kind for x in c] == ["synapse", "neuron", "synapse", "neuron"]
    # layer 0: 3 steps x 3 inputs x 2 outputs dense; 5 input spikes x fan-out 2 triggered
    assert (fc1.macs, fc1.synops, fc1.input_events, fc1.input_elements) == (18.0, 10.0, 5.0, 9.0)
    assert fc1.input_binary and fc1.input_rate == pytest.approx(5 / 9) and fc1.macs_per_step == 6.0
    assert fc1.params == 6 and fc1.outputs == 6.0 and fc1.row_activations == 5.0
    assert fc1.weight_read_bytes == 40.0  # 10 fetches x 4 bytes
    assert fc1.act_read_bytes == 9 / 8 and fc1.act_write_bytes == 24.0
    assert (if1.state_updates, if1.spikes, if1.state_vars, if1.neurons) == (6.0, 4.0, 1, 2.0)
    assert if1.firing_rate == pytest.approx(4 / 6)
    assert if1.state_read_bytes == if1.state_write_bytes == 24.0
    assert not if1.input_binary  # the current 2.0 at t2
    assert (fc2.macs, fc2.synops, fc2.input_rate) == (6.0, 4.0, pytest.approx(4 / 6))
    # layer 2 currents: t0 1.0 -> spike, t1 0, t2 1.0 -> spike
    assert (if2.state_updates, if2.spikes) == (3.0, 2.0)
    assert c.total("synops") == 14.0 and c.total("spikes", kind="neuron") == 6.0


def test_step_cells_and_sequences_count_the_same() -> None:
    steps, seq = count_ops(tiny(cell=True), batch()), count_ops(tiny(), batch())
    assert [x.calls for x in steps] == [3, 3, 3, 3] and [x.calls for x in seq] == [1, 1, 1, 1]
    # input formats are judged per call: at t1 the IF cell's input is all zeros, a bitmap, so the
    # activation bytes differ; every operation count is the same
    same = {"calls": 0, "module": "", "act_read_bytes": 0}
    for a, b in zip(steps, seq, strict=True):
        assert a.__dict__ | same == b.__dict__ | same


def test_bit_widths_scale_bytes() -> None:
    c = count_ops(tiny(), batch(), options=CountOptions(weight_bits=8, state_bits=16, act_bits=8))
    assert c["0"].weight_read_bytes == 10.0 and c["1"].state_read_bytes == 12.0 and c["0"].act_write_bytes == 6.0


def test_conv_synops_exact_at_the_border() -> None:
    conv = nn.Conv2d(1, 2, 3, padding=1, bias=False)
    x = torch.zeros(1, 1, 1, 4, 4)
    x[0, 0, 0, 0, 0] = 1.0  # a spike in the corner: seen by output positions (0,0), (0,1), (1,0), (1,1)
    c = count_ops(Sequential(conv), x)
    assert c["0"].macs == 16 * 2 * 9 and c["0"].row_activations == 4.0 and c["0"].synops == 8.0


def test_grouped_strided_conv_matches_brute_force() -> None:
    conv = nn.Conv2d(4, 6, 3, stride=2, padding=1, groups=2, bias=False)
    x = (torch.rand(2, 3, 4, 7, 7) < 0.3).float()
    c = count_ops(Sequential(conv), x)["0"]
    # brute force: the conv of |x| > 0 with all-ones weights counts triggered accumulates per output
    ones = nn.Conv2d(4, 6, 3, stride=2, padding=1, groups=2, bias=False)
    with torch.no_grad():
        ones.weight.fill_(1.0)
        expected = float(ones((x != 0).float().flatten(0, 1)).sum()) / 3
    assert c.synops == pytest.approx(expected)
    assert c.macs == 2 * 6 * 4 * 4 * 2 * 9  # T * c_out * out_h * out_w * (c_in/groups) * k^2, per sample


def test_hooks_leave_the_model_untouched() -> None:
    net = tiny()
    before = {name: set(vars(m)) for name, m in net.named_modules()}
    state = {k: v.clone() for k, v in net.state_dict().items()}
    count_ops(net, batch())
    for name, m in net.named_modules():
        assert set(vars(m)) == before[name]
        assert not m._forward_hooks and not m._forward_pre_hooks
    assert all(torch.equal(state[k], v) for k, v in net.state_dict().items())


def test_hooks_removed_when_the_run_fails() -> None:
    net = tiny()
    with pytest.raises(RuntimeError, match="cannot be multiplied"):
        count_ops(net, torch.ones(3, 2, 5))
    assert all(not m._forward_hooks for m in net.modules())


def test_plain_torch_model_and_run_modes() -> None:
    net = nn.Sequential(nn.Flatten(0, 1), nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    c = count_ops(net, batch(2), run="sequence")
    assert c["1"].macs == 3 * 3 * 4 and c["3"].macs == 3 * 4 * 2 and not c["3"].input_binary
    with pytest.raises(ConfigError, match="unknown run mode"):
        count_ops(net, batch(), run="loop")


class SpikeAttention(nn.Module):
    """A stand-in for a transformer module that counts itself through the count_ops protocol."""

    def __init__(self, form: str) -> None:
        super().__init__()
        self.form = form

    def forward(self, q, k, v):
        return q * (k * v).sum(-2, keepdim=True) if self.form == "v1" else q @ (k.transpose(-1, -2) @ v)

    def count_ops(self, inputs, output, options):
        return (sdsa_v1_ops if self.form == "v1" else sdsa_v2_ops)(*inputs, options)


QKV = (torch.tensor([[1.0, 0.0], [1.0, 1.0], [0.0, 0.0]]),  # q: N = 3 tokens, D = 2
       torch.tensor([[1.0, 1.0], [0.0, 1.0], [1.0, 0.0]]),  # k
       torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0]]))  # v


def test_sdsa_v1_golden() -> None:
    ops = sdsa_v1_ops(*QKV)
    # dense 2 N D = 12; nnz(K) = 4, nnz(K*V) = 2 (token 0 channel 0, token 1 channel 1)
    got = (ops.kind, ops.macs, ops.synops, ops.input_events, ops.input_elements)
    assert got == ("attention", 12.0, 6.0, 10.0, 18.0)
    assert ops.input_binary


def test_sdsa_v2_golden() -> None:
    ops = sdsa_v2_ops(*QKV)
    # dense 2 N D^2 = 24; k^T v: sum_n nnz(k_n) nnz(v_n) = 2*1 + 1*1 + 1*1 = 4; q @ M: nnz(q) D = 3 * 2 = 6
    assert (ops.macs, ops.synops) == (24.0, 10.0)
    # the triggered count equals a brute-force count of the non-zero products
    q, k, v = QKV
    brute = float(((k.unsqueeze(-1) * v.unsqueeze(-2)) != 0).sum()) + float((q != 0).sum()) * 2
    assert ops.synops == brute


def test_attention_modules_plug_in_through_the_protocol() -> None:
    for form, fn in (("v1", sdsa_v1_ops), ("v2", sdsa_v2_ops)):
        m = SpikeAttention(form)
        c = count_ops(m, torch.ones(1, 1), run=lambda mod, x: mod(*QKV), time_steps=1, batch_size=1)
        assert c["SpikeAttention"].synops == fn(*QKV).synops and c["SpikeAttention"].kind == "attention"


def test_attention_shape_error() -> None:
    with pytest.raises(ShapeError, match="share one shape"):
        sdsa_v2_ops(torch.ones(2, 3), torch.ones(2, 3), torch.ones(3, 2))


def test_extra_counters_by_type_and_unsupported_layers() -> None:
    class Gate(nn.Module):
        def forward(self, x):
            return x

    def gate_ops(module, inputs, output, options):
        return CallOps("gate", synops=float(inputs[0].sum()))

    c = count_ops(Sequential(Gate()), batch(1), counters={Gate: gate_ops})
    assert c["0"].synops == 5.0 and c["0"].kind == "gate"
    with pytest.raises(NeuroError, match="no counter for ConvTranspose2d"):
        count_ops(Sequential(nn.ConvTranspose2d(1, 1, 2)), torch.ones(1, 1, 1, 3, 3))


def test_opcounts_json_round_trip_and_errors() -> None:
    c = count_ops(tiny(), batch())
    again = OpCounts.from_dict(json.loads(c.to_json()))
    assert again == c
    with pytest.raises(UnknownNameError, match="layers: 0, 1, 2, 3"):
        c["fc9"]
    with pytest.raises(UnknownNameError, match="summable"):
        c.total("input_rate")
    assert "SynOps" in c.table()


def test_leaky_integrator_emits_no_spikes() -> None:
    from neuro import LI

    c = count_ops(Sequential(nn.Linear(3, 2), LI()), batch())
    assert c["1"].spikes == 0.0 and c["1"].state_updates == 6.0


@given(st.integers(1, 5), st.integers(1, 4), st.integers(1, 6), st.integers(1, 6), st.floats(0.0, 1.0))
def test_linear_invariants(t: int, b: int, n_in: int, n_out: int, p: float) -> None:
    g = torch.Generator().manual_seed(t * 100 + b)
    x = (torch.rand(t, b, n_in, generator=g) < p).float()
    ops = linear_ops(nn.Linear(n_in, n_out), (x,), None, CountOptions())
    assert ops.synops <= ops.macs
    assert ops.synops == pytest.approx(ops.macs * ops.input_events / ops.input_elements)
    assert ops.input_binary
    assert LayerOps("l", "Linear", "synapse", time_steps=t, macs=ops.macs).macs_per_step == b * n_in * n_out


def test_lif_network_counts_are_consistent() -> None:
    net = Sequential(nn.Linear(5, 7), LIF(), nn.Linear(7, 3), LIF())
    x = (torch.rand(10, 4, 5) < 0.5).float()
    c = count_ops(net, x)
    assert c["1"].spikes == c["2"].input_events  # spikes of layer 1 are the input events of layer 2
    assert c["2"].synops == c["1"].spikes * 3
