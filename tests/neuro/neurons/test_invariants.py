"""Property-based invariants of every neuron in the registry."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from neuro import NEURONS, simulate
from neuro.neurons import build

SPIKING = [name for name in NEURONS if name != "li"]


def _inputs(seed: int, steps: int, batch: int, width: int, scale: float) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(steps, batch, width, generator=g) * scale


@pytest.mark.parametrize("name", SPIKING)
@given(seed=st.integers(0, 2**16), steps=st.integers(1, 12), batch=st.integers(1, 4),
       scale=st.floats(0.1, 30.0), reset=st.sampled_from(["hard", "subtract"]))
def test_spikes_are_binary(name: str, seed: int, steps: int, batch: int, scale: float, reset: str) -> None:
    kwargs = {} if name == "izhikevich" else {"reset": reset}
    out, _ = build(name, **kwargs)(_inputs(seed, steps, batch, 5, scale))
    assert set(out.unique().tolist()) <= {0.0, 1.0}


@pytest.mark.parametrize("name", list(NEURONS))
@given(seed=st.integers(0, 2**16), cut=st.integers(1, 9))
def test_causality(name: str, seed: int, cut: int) -> None:
    x = _inputs(seed, 10, 2, 4, 3.0)
    y = x.clone()
    y[cut:] = _inputs(seed + 1, 10 - cut, 2, 4, 3.0)
    neuron = build(name)
    a, _ = neuron(x)
    b, _ = neuron(y)
    torch.testing.assert_close(a[:cut], b[:cut])


@pytest.mark.parametrize("name", list(NEURONS))
@given(seed=st.integers(0, 2**16))
def test_batch_independence(name: str, seed: int) -> None:
    x = _inputs(seed, 8, 5, 3, 3.0)
    neuron = build(name)
    together, _ = neuron(x)
    for b in range(5):
        alone, _ = neuron(x[:, b : b + 1])
        torch.testing.assert_close(together[:, b : b + 1], alone)


@pytest.mark.parametrize("name", SPIKING)
def test_zero_input_no_spikes(name: str) -> None:
    out, _ = build(name)(torch.zeros(50, 3, 7))
    assert out.sum() == 0


@pytest.mark.parametrize("name", list(NEURONS))
@given(seed=st.integers(0, 2**16))
def test_cell_and_sequence_agree(name: str, seed: int) -> None:
    x = _inputs(seed, 9, 2, 3, 3.0)
    seq = build(name)
    cell = build(name, sequence=False)
    a = simulate(seq, x).output
    b = simulate(cell, x).output
    torch.testing.assert_close(a, b)


@pytest.mark.parametrize("name", list(NEURONS))
def test_registry_entries_are_consistent(name: str) -> None:
    spec = NEURONS[name]
    assert spec.cell.kind == spec.sequence.kind == name
    assert spec.sequence.is_sequence and not spec.cell.is_sequence
    assert repr(build(name))  # extra_repr works
