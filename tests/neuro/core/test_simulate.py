"""simulate, Sequential, TimeDistributed, recording: equivalences, round trips and errors."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import neuro
from neuro import LIF, LIFCell, Sequential, TimeDistributed, simulate
from neuro.errors import ShapeError, UnknownNameError


def _pair() -> tuple[Sequential, Sequential]:
    torch.manual_seed(1)
    lin = nn.Linear(6, 5)
    opts = {"tau_mem": 4e-3, "decay_input": False}
    seq = Sequential(lin, LIF(**opts), nn.Linear(5, 3), LIF(**opts))
    cells = Sequential(seq[0].module, LIFCell(**opts), seq[2].module, LIFCell(**opts))
    return seq, cells


def test_sequence_and_step_models_agree() -> None:
    seq, cells = _pair()
    x = torch.rand(30, 4, 6) * 3
    a = simulate(seq, x, record=True)
    b = simulate(cells, x, record=True)
    assert seq.is_sequence and not cells.is_sequence
    torch.testing.assert_close(a.output, b.output)
    assert set(a.records) == set(b.records) == {"1.spikes", "1.v", "3.spikes", "3.v"}
    for key in a.records:
        torch.testing.assert_close(a[key], b[key])
    assert a["1.spikes"].sum() > 0


def test_continuing_from_returned_state_equals_one_long_run() -> None:
    seq, _ = _pair()
    x = torch.rand(40, 2, 6) * 3
    whole = simulate(seq, x)
    first = simulate(seq, x[:17])
    second = simulate(seq, x[17:], state=first.state)
    torch.testing.assert_close(torch.cat([first.output, second.output]), whole.output)


def test_sequential_wraps_plain_layers_and_rejects_mixing() -> None:
    net = Sequential(nn.Conv2d(2, 3, 3), LIF())
    assert isinstance(net[0], TimeDistributed)
    assert net(torch.zeros(4, 2, 2, 8, 8))[0].shape == (4, 2, 3, 6, 6)
    with pytest.raises(ValueError, match="mixes single-step layers"):
        Sequential(LIFCell(), LIF())
    with pytest.raises(ShapeError, match="state has 1 entries for 2 layers"):
        net(torch.zeros(4, 2, 2, 8, 8), state=(None,))


def test_errors_name_the_problem() -> None:
    seq, _ = _pair()
    with pytest.raises(ShapeError, match=r"simulate: expected a time-major tensor of shape \(T, B, ...\), got \(6,\)"):
        simulate(seq, torch.zeros(6))
    with pytest.raises(UnknownNameError, match="cannot record 'nope'.*neurons: 1, 3"):
        simulate(seq, torch.zeros(3, 1, 6), record=["nope"])
    trace = simulate(seq, torch.zeros(3, 1, 6))
    with pytest.raises(UnknownNameError, match="no record '1.v'; recorded: none"):
        trace["1.v"]
    with pytest.raises(ShapeError, match=r"LIF: expected time-major input of shape \(T, B, ...\), got shape \(5,\)"):
        LIF()(torch.zeros(5))
    with pytest.raises(ShapeError, match=r"LIFCell: state.v has shape \(3,\) but one time step"):
        LIFCell()(torch.zeros(2, 3), neuro.neurons.LIFState(torch.zeros(3)))


def test_time_distributed_folds_time_into_batch() -> None:
    bn = nn.BatchNorm1d(3)
    td = TimeDistributed(bn)
    x = torch.randn(5, 4, 3)
    y = td(x)
    flat = x.reshape(20, 3)
    expected = (flat - flat.mean(0)) / torch.sqrt(flat.var(0, unbiased=False) + 1e-5)
    torch.testing.assert_close(y, expected.reshape(5, 4, 3))


def test_backend_selection_is_scoped() -> None:
    assert neuro.backends.current() == "auto"
    with neuro.backends.use("reference", strict=True):
        assert neuro.backends.current() == "reference"
        out, _ = LIF()(torch.ones(3, 1, 2))
    assert neuro.backends.current() == "auto"
    assert out.shape == (3, 1, 2)
    with pytest.raises(UnknownNameError, match="unknown backend 'warp'"):
        with neuro.backends.use("warp"):
            pass
