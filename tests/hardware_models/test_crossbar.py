"""Crossbar layers: ideal devices reproduce Linear/Conv2d, non-idealities act, Monte-Carlo, training."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from hardware_models.devices import (
    CrossbarConv2d,
    CrossbarLinear,
    RRAMParams,
    crossbar_layers,
    load_card,
    monte_carlo,
    to_crossbar,
)
from neuro import LIF, Sequential, simulate
from neuro.analysis import count_ops
from neuro.errors import ConfigError

IDEAL = RRAMParams()
F64 = torch.float64


def net() -> Sequential:
    torch.manual_seed(0)
    return Sequential(nn.Conv2d(2, 3, 3, padding=1), LIF(), nn.Flatten(), nn.Linear(3 * 16, 5), LIF())


def test_ideal_crossbar_reproduces_the_model() -> None:
    model = net()
    x = (torch.rand(6, 2, 2, 4, 4) < 0.4).float()
    hw = to_crossbar(model, IDEAL)
    assert len(crossbar_layers(hw)) == 2 and all(layer.programmed for layer in crossbar_layers(hw))
    assert isinstance(hw[0].module, CrossbarConv2d) and isinstance(hw[3].module, CrossbarLinear)
    torch.testing.assert_close(simulate(hw, x).output, simulate(model, x).output)
    # count_ops sees crossbar layers as the Linear / Conv2d they replace
    assert count_ops(hw, x).to_dict()["layers"][0]["synops"] == count_ops(model, x)["0"].synops


def test_levels_noise_and_drift_change_the_weights() -> None:
    lin = nn.Linear(8, 4)
    p = RRAMParams(levels=4)
    cb = to_crossbar(lin, p, generator=torch.Generator().manual_seed(0))
    w = cb.effective_weight()
    assert len(torch.unique((w / cb.k).round(decimals=6))) <= 7  # differences of 4 levels: 2*4 - 1 values
    noisy = to_crossbar(lin, RRAMParams(read_noise=0.05))
    assert not torch.equal(noisy.effective_weight(), noisy.effective_weight())  # fresh noise on every read
    drifting = to_crossbar(lin, RRAMParams(drift_nu=0.1))
    w0 = drifting.effective_weight()
    drifting.read_time = 100.0
    torch.testing.assert_close(drifting.effective_weight(), w0 * 100.0**-0.1)


def test_adc_needs_a_full_scale() -> None:
    cb = to_crossbar(nn.Linear(4, 2), RRAMParams(adc_bits=4))
    with pytest.raises(ConfigError, match="adc_full_scale"):
        cb(torch.ones(1, 4))
    cb.adc_full_scale = 1.0
    with torch.no_grad():
        y = cb(torch.ones(3, 4)) - cb.bias
    assert float(y.abs().max()) <= 1.0 + 1e-6
    assert torch.allclose(y * 7, (y * 7).round(), atol=1e-5)  # on the 4-bit grid of step 1/7


def test_monte_carlo_over_device_draws() -> None:
    card = load_card("generic_multilevel")
    p = RRAMParams(**{**card.params.__dict__, "adc_bits": 0})
    model = to_crossbar(net(), p)
    x = (torch.rand(6, 4, 2, 4, 4, generator=torch.Generator().manual_seed(1)) < 0.4).float()

    def evaluate(m: nn.Module) -> float:
        with torch.no_grad():
            return float(simulate(m, x).state[1].v.sum())

    a = monte_carlo(model, evaluate, 4, seed=3)
    b = monte_carlo(model, evaluate, 4, seed=3)
    assert a.values == b.values and len(set(a.values)) == 4 and a.std > 0
    ideal = monte_carlo(to_crossbar(net(), IDEAL), evaluate, 3)
    assert ideal.std == 0.0
    with pytest.raises(ConfigError, match="no crossbar layers"):
        monte_carlo(net(), evaluate, 2)


def test_noise_injection_training_uses_straight_through_gradients() -> None:
    lin = CrossbarLinear(5, 3, rram=RRAMParams(levels=4, c2c_sigma=0.05, read_noise=0.05), noise_injection=True)
    x = torch.randn(7, 5)
    lin.train()
    y = lin(x)
    ideal = nn.functional.linear(x, lin.weight, lin.bias)
    assert not torch.allclose(y, ideal)  # the forward sees device weights
    y.sum().backward()
    torch.testing.assert_close(lin.weight.grad, x.sum(0).expand(3, 5))  # d/dw of sum(x w^T): identity STE
    lin.eval()
    torch.testing.assert_close(lin(x), ideal)  # not programmed, not training: ideal weights
