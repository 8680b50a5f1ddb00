"""The Meta-SpikeFormer step of the GPU check (neuro.bench.meta), on CPU at the tiny size."""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("spikingjelly")

from neuro.bench.harness import spike_mismatches
from neuro.bench.meta import SIZES, SJLIF, _build, meta_step, neuron_mismatches
from neuro.neurons.lif import LIF


def test_the_two_models_differ_only_in_their_neurons():
    ours, x, y = _build("neuro", SIZES["tiny"], torch.float32, 0, "cpu")
    theirs, x2, y2 = _build("spikingjelly", SIZES["tiny"], torch.float32, 0, "cpu")
    assert torch.equal(x, x2) and torch.equal(y, y2)
    a, b = ours.state_dict(), theirs.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    kinds = {type(m) for m in ours.modules()} ^ {type(m) for m in theirs.modules()}
    assert LIF in kinds and SJLIF in kinds
    assert sum(isinstance(m, LIF) for m in ours.modules()) == sum(isinstance(m, SJLIF) for m in theirs.modules())


def test_same_spikes_and_a_training_step_changes_the_weights():
    cases = {i: meta_step(i, SIZES["tiny"]) for i in ("neuro", "spikingjelly")}
    ref = cases["neuro"].spikes()
    differing, total = spike_mismatches(ref, cases["spikingjelly"].spikes())
    assert total > 10_000 and differing == 0
    assert 0.01 < sum(float(s.mean()) for s in ref.values()) / len(ref) < 0.5  # the check is not on silent layers
    assert neuron_mismatches(SIZES["tiny"]) == (0, total)
    before = cases["neuro"].spikes()
    cases["neuro"].step()
    assert spike_mismatches(before, cases["neuro"].spikes())[0] > 0  # AdamW moved the weights


def test_unknown_implementation_is_named():
    with pytest.raises(ValueError, match="'norse'"):
        meta_step("norse", SIZES["tiny"])
