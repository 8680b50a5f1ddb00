"""Graphs beyond chains: recurrent sub-graphs, nested graphs, branches and sums, delays, traced modules."""

from __future__ import annotations

import nir
import numpy as np
import torch
from torch import nn

from neuro import LIF, LIFCell, Sequential, simulate
from neuro.interop.nir import Delay, DelayCell, GraphModel, from_nir, read, to_nir


def _lif(n: int, tau: float = 4e-3) -> nir.LIF:
    return nir.LIF(tau=np.full(n, tau), r=np.ones(n), v_leak=np.zeros(n), v_threshold=np.ones(n))


def _rnn_graph(w_in: np.ndarray, w_rec: np.ndarray) -> nir.NIRGraph:
    """snnTorch's RLeaky layout: a nested graph input -> lif <-> w_rec, lif -> output."""
    n = w_rec.shape[0]
    sub = nir.NIRGraph(nodes={"input": nir.Input(input_type=np.array([n])), "lif": _lif(n),
                              "w_rec": nir.Linear(weight=w_rec), "output": nir.Output(output_type=np.array([n]))},
                       edges=[("input", "lif"), ("lif", "w_rec"), ("w_rec", "lif"), ("lif", "output")])
    return nir.NIRGraph(nodes={"input": nir.Input(input_type=np.array([w_in.shape[1]])),
                               "fc": nir.Linear(weight=w_in), "rnn": sub,
                               "output": nir.Output(output_type=np.array([n]))},
                        edges=[("input", "fc"), ("fc", "rnn"), ("rnn", "output")], metadata={"dt": 1e-3})


def test_recurrent_subgraph_matches_a_hand_written_loop(tmp_path) -> None:
    rng = np.random.default_rng(1)
    w_in = rng.normal(size=(5, 3)).astype(np.float32)
    w_rec = (0.5 * rng.normal(size=(5, 5))).astype(np.float32)
    nir.write(tmp_path / "rnn.nir", _rnn_graph(w_in, w_rec))
    model = from_nir(read(tmp_path / "rnn.nir"))
    assert isinstance(model, Sequential) and isinstance(model[1], GraphModel)
    assert model.is_sequence is False and model[1].recurrent_edges == (("w_rec", "lif"),)
    x = torch.rand(30, 2, 3) * 2
    out = simulate(model, x).output
    # the reference: the recurrent input is the previous step's spikes through w_rec (zero at t = 0)
    wi, wr = torch.from_numpy(w_in), torch.from_numpy(w_rec)
    v, s, ref = torch.zeros(2, 5), torch.zeros(2, 5), []
    for t in range(30):
        drive = x[t] @ wi.T + s @ wr.T
        h = v + 0.25 * (0 - v) + 0.25 * drive  # tau = 4 ms at dt = 1 ms
        s = (h >= 1.0).float()
        v = (1 - s) * h
        ref.append(s)
    ref = torch.stack(ref)
    assert ref.sum() > 0 and torch.equal(out, ref)


def test_recurrent_graph_model_round_trips(tmp_path) -> None:
    rng = np.random.default_rng(2)
    model = from_nir(_rnn_graph(rng.normal(size=(4, 3)).astype(np.float32),
                                rng.normal(size=(4, 4)).astype(np.float32)))
    x = torch.rand(25, 3, 3) * 2
    nir.write(tmp_path / "again.nir", to_nir(model, x))
    again = read(tmp_path / "again.nir")
    assert isinstance(again.nodes["graphmodel_1"], nir.NIRGraph)  # the nested recurrent graph stays nested
    assert ("w_rec", "lif") in again.nodes["graphmodel_1"].edges
    rebuilt = from_nir(again)
    a, b = simulate(model, x, record=True), simulate(rebuilt, x, record=True)
    assert a.records.keys() == b.records.keys() and a.output.sum() > 0
    for key in a.records:
        assert torch.equal(a.records[key], b.records[key]), key


def test_branches_are_summed_and_nested_chains_become_nested_sequentials() -> None:
    w1 = np.array([[1.0, 0.0], [0.0, 1.0]], dtype=np.float32)
    w2 = np.array([[0.5, 0.5], [-1.0, 2.0]], dtype=np.float32)
    inner = nir.NIRGraph(nodes={"input": nir.Input(input_type=np.array([2])), "s": nir.Scale(scale=np.full(2, 2.0)),
                                "lif": _lif(2), "output": nir.Output(output_type=np.array([2]))},
                         edges=[("input", "s"), ("s", "lif"), ("lif", "output")])
    g = nir.NIRGraph(nodes={"input": nir.Input(input_type=np.array([2])), "a": nir.Linear(weight=w1),
                            "b": nir.Linear(weight=w2), "block": inner,
                            "output": nir.Output(output_type=np.array([2]))},
                     edges=[("input", "a"), ("input", "b"), ("a", "block"), ("b", "block"), ("block", "output")],
                     metadata={"dt": 1e-3})
    model = from_nir(g)
    assert isinstance(model, GraphModel) and model.is_sequence
    assert isinstance(model.module("block"), Sequential)
    x = torch.rand(20, 4, 2)
    drive = 2.0 * (x @ torch.from_numpy(w1).T + x @ torch.from_numpy(w2).T)
    expected = simulate(LIF(tau_mem=4e-3), drive).output
    assert torch.equal(simulate(model, x).output, expected)
    step = from_nir(g, mode="step")
    assert step.is_sequence is False and torch.equal(simulate(step, x).output, expected)


def test_delay_golden_and_step_equals_sequence() -> None:
    x = torch.arange(1.0, 7.0).reshape(6, 1, 1).expand(6, 1, 3).clone()
    steps = torch.tensor([0, 1, 3])
    y, state = Delay(steps)(x)
    assert y[:, 0].T.tolist() == [[1, 2, 3, 4, 5, 6], [0, 1, 2, 3, 4, 5], [0, 0, 0, 1, 2, 3]]
    ys, s = [], None
    cell = DelayCell(steps)
    for t in range(6):
        out, s = cell(x[t], s)
        ys.append(out)
    assert torch.equal(torch.stack(ys), y) and torch.equal(s.history, state.history)
    y2, _ = Delay(steps)(x[3:], Delay(steps)(x[:3])[1])  # continuing from a state
    assert torch.equal(y2, y[3:])


def test_delay_node_in_seconds_and_recurrent_delay_loop() -> None:
    g = nir.NIRGraph(nodes={"input": nir.Input(input_type=np.array([2])), "lif": _lif(2, 2e-3),
                            "d": nir.Delay(delay=np.array([2e-3, 2e-3])), "w": nir.Scale(scale=np.full(2, 0.6)),
                            "output": nir.Output(output_type=np.array([2]))},
                     edges=[("input", "lif"), ("lif", "d"), ("d", "w"), ("w", "lif"), ("lif", "output")])
    model = from_nir(g, dt=1e-3)
    d = model.module("d")
    assert isinstance(d, DelayCell) and d.max_steps == 2
    x = torch.zeros(8, 1, 2)
    x[0] = 2.0  # one spike at t = 0, echoed through the 2-step delay and the one-step recurrent edge
    out = simulate(model, x).output[:, 0, 0]
    assert out.tolist()[0] == 1.0 and out.sum() >= 1


class _Residual(nn.Module):
    """A custom module: nirtorch traces its module calls and the addition."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1, self.lif1 = nn.Linear(4, 6), LIF()
        self.fc2, self.skip, self.lif2 = nn.Linear(6, 3), nn.Linear(4, 3), LIF(tau_mem=5e-3)
        self.drop = nn.Dropout(0.1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s, _ = self.lif1(self.fc1(x))
        out, _ = self.lif2(self.fc2(self.drop(s)) + self.skip(x))
        return out


def test_custom_module_is_traced_with_nirtorch() -> None:
    model = _Residual().eval()
    x = 3 * torch.rand(20, 2, 4)
    g = to_nir(model, x)
    kinds = {n: type(v).__name__ for n, v in g.nodes.items()}
    assert sorted(kinds.values()) == sorted(["Input", "Affine", "LIF", "Affine", "Affine", "LIF", "Output"])
    rebuilt = from_nir(g)
    assert isinstance(rebuilt, GraphModel)
    assert torch.equal(simulate(model, x).output, simulate(rebuilt, x).output)


def test_graph_model_step_mode_equals_sequence_mode() -> None:
    nodes = {"fc": nn.Linear(3, 3), "lif": LIF()}
    edges = [("input", "fc"), ("fc", "lif"), ("input", "lif"), ("lif", "output")]
    seq = GraphModel(nodes, edges)
    step = GraphModel({"fc": nodes["fc"], "lif": LIFCell()}, edges)
    assert seq.is_sequence and not step.is_sequence
    x = 2 * torch.rand(15, 2, 3)
    assert torch.equal(simulate(seq, x).output, simulate(step, x).output)


def test_nested_sequential_becomes_a_nested_graph_and_back(tmp_path) -> None:
    model = Sequential(nn.Linear(3, 4), Sequential(nn.Linear(4, 4), LIF(tau_mem=3e-3)), nn.Linear(4, 2), LIF())
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.Linear):
                m.weight.abs_().mul_(3.0)
    x = 3 * torch.rand(20, 2, 3)
    nir.write(tmp_path / "nested.nir", to_nir(model, x))
    g = read(tmp_path / "nested.nir")
    assert isinstance(g.nodes["sequential_1"], nir.NIRGraph)
    assert {type(n).__name__ for n in g.nodes["sequential_1"].nodes.values()} == {"Input", "Affine", "LIF", "Output"}
    rebuilt = from_nir(g)
    assert isinstance(rebuilt[1], Sequential) and rebuilt[1][1].tau_mem == 3e-3
    a, b = simulate(model, x, record=True), simulate(rebuilt, x, record=True)
    assert a.records["1.1.spikes"].sum() > 0 and a.records.keys() == b.records.keys()
    for key in a.records:
        assert torch.equal(a.records[key], b.records[key]), key


def test_event_driven_layers_export_as_affine_maps(tmp_path) -> None:
    """EventLinear is an Affine/Linear node; SpikingLinear a nested graph of its linear map and its neuron.
    The rebuilt plain modules give the fused event-driven layers' spikes exactly."""
    from neuro.layers import EventLinear, SpikingLinear

    torch.manual_seed(0)
    model = Sequential(nn.Flatten(), SpikingLinear(8, 6), EventLinear(6, 5), LIF(), SpikingLinear(5, 3, bias=False))
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, EventLinear):
                m.weight.abs_().mul_(4.0)
    x = (torch.rand(30, 3, 2, 2, 2) < 0.3).float()
    nir.write(tmp_path / "event.nir", to_nir(model, x))
    g = read(tmp_path / "event.nir")
    assert isinstance(g.nodes["spikinglinear_1"], nir.NIRGraph)
    assert {type(n).__name__ for n in g.nodes["spikinglinear_1"].nodes.values()} == {"Input", "Affine", "LIF", "Output"}
    assert isinstance(g.nodes["eventlinear_2"], nir.Affine) and isinstance(g.nodes["spikinglinear_4"], nir.NIRGraph)
    rebuilt = from_nir(g)
    a, b = model(x)[0], rebuilt(x)[0]
    assert a.sum() > 0 and torch.equal(a, b)
