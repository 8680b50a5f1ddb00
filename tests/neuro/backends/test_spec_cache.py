"""Kernel specs are built once per distinct parameter set (compared by value) and never reused stale."""

from __future__ import annotations

import torch

from neuro import LIF
from neuro.backends._spec import lif_spec, spec_for


def test_equal_number_parameters_share_one_spec_and_a_changed_one_gets_its_own():
    a, b = LIF(tau_mem=3e-3, surrogate="atan"), LIF(tau_mem=3e-3, surrogate="atan")
    spec = spec_for(lif_spec, a.params(), torch.float32)
    assert spec_for(lif_spec, b.params(), torch.float32) is spec  # equal values, other tuples and modules
    assert spec_for(lif_spec, a.params(), torch.float64) is not spec
    b.v_threshold = 0.7
    other = spec_for(lif_spec, b.params(), torch.float32)
    assert other is not spec and other.scalars["v_threshold"].item() == torch.tensor(0.7).item()
    c = LIF(tau_mem=3e-3, surrogate="sigmoid")  # a frozen surrogate of another kind: another spec
    assert spec_for(lif_spec, c.params(), torch.float32).surrogate != spec.surrogate


def test_tensor_parameters_are_read_on_every_call():
    lif = LIF(tau_mem=3e-3, learn_threshold=True)
    first = spec_for(lif_spec, lif.params(), torch.float32)
    with torch.no_grad():
        lif.v_threshold.fill_(0.6)  # changed in place, as an optimiser does
    second = spec_for(lif_spec, lif.params(), torch.float32)
    assert second is not first and second.scalars["v_threshold"].item() == torch.tensor(0.6).item()
