"""The papers' neuron setting equals SpikingJelly's LIFNode(tau=2, detach_reset=True), the official node."""

from __future__ import annotations

import pytest
import torch
from spikingjelly.activation_based import neuron as sj_neuron

from neuro.core.surrogate import Sigmoid
from neuro.errors import ConfigError, UnknownNameError
from neuro.layers.neuron_setting import NeuronSetting
from tests.neuro.sdt_checks import single_thread


@pytest.fixture(autouse=True)
def _single_thread():
    with single_thread():
        yield


@pytest.mark.parametrize("threshold", [1.0, 0.5])
def test_matches_spikingjelly_multistep_lif(threshold):
    x = (torch.randn(12, 3, 40, dtype=torch.float64) * 1.5).requires_grad_()
    x_sj = x.detach().clone().requires_grad_()
    ours, _ = NeuronSetting().lif(threshold)(x)
    ref = sj_neuron.LIFNode(tau=2.0, detach_reset=True, v_threshold=threshold, step_mode="m")(x_sj)
    assert torch.equal(ours, ref)
    assert 0.02 < ours.mean() < 0.5
    g = torch.randn_like(ours)
    (grad_ours,) = torch.autograd.grad(ours, x, g)
    (grad_ref,) = torch.autograd.grad(ref, x_sj, g)
    torch.testing.assert_close(grad_ours, grad_ref, rtol=0, atol=1e-12)


def test_defaults_are_the_papers():
    setting = NeuronSetting()
    lif = setting.lif()
    assert (setting.tau, lif.v_threshold, lif.v_reset, setting.attn_lif().v_threshold) == (2.0, 1.0, 0.0, 0.5)
    assert lif.decay_input and lif.detach_reset and lif.dt / lif.tau_mem == 0.5
    assert lif.surrogate == Sigmoid(alpha=4.0)


def test_bad_settings_are_config_errors():
    with pytest.raises(ConfigError, match="tau"):
        NeuronSetting(tau=1.0)
    with pytest.raises(ConfigError, match="threshold"):
        NeuronSetting(attn_threshold=0.0)
    with pytest.raises(UnknownNameError, match="surrogate"):
        NeuronSetting(surrogate={"name": "nope"})
