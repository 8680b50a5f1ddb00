"""Statistical tests of the RRAM device model with fixed seeds: levels, bounds, noise moments, drift
law, fault rate, forming distributions, differential pairs, ADC, device cards."""

from __future__ import annotations

import math

import pytest
import torch

from hardware_models.devices import (
    CARDS,
    RRAMParams,
    RRAMWeights,
    adc_quantize,
    drift,
    form,
    levels,
    load_card,
    pair_to_weights,
    program,
    read,
    sample_device_map,
    weights_to_pair,
)
from hardware_models.devices.cards import parse_card
from neuro.core.weight_source import GaussianWeights, WeightSource
from neuro.errors import ConfigError, UnknownNameError

N = 200_000
F64 = torch.float64


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_finite_levels_and_bounds() -> None:
    p = RRAMParams(levels=8)
    target = torch.rand(N, generator=gen(), dtype=F64) * 2e-4 - 5e-5  # beyond the window on both sides
    g = program(target, p, sample_device_map((N,), p, gen(1)), gen(2))
    values = torch.unique(g)
    assert len(values) == 8
    torch.testing.assert_close(values, levels(p, F64))
    assert float(g.min()) == p.g_min and float(g.max()) == p.g_max


@pytest.mark.parametrize("variation", ["gaussian", "lognormal"])
def test_programming_variation_moments(variation: str) -> None:
    c2c, d2d = 0.01, 0.02
    p = RRAMParams(variation=variation, c2c_sigma=c2c, d2d_sigma=d2d)
    target = torch.full((N,), 5e-5, dtype=F64)
    dev = sample_device_map((N,), p, gen(3))
    g = program(target, p, dev, gen(4))
    assert float(g.min()) >= p.g_min and float(g.max()) <= p.g_max
    sigma = math.hypot(c2c, d2d)
    if variation == "gaussian":  # additive, in units of the window
        z = (g - 5e-5) / p.window
    else:  # multiplicative, median-preserving
        z = torch.log(g / 5e-5)
    assert abs(float(z.mean())) < 4 * sigma / math.sqrt(N)
    assert float(z.std()) == pytest.approx(sigma, rel=0.01)
    # re-programming the same devices: the D2D part repeats, the C2C part is fresh
    g2 = program(target, p, dev, gen(5))
    z2 = (g2 - 5e-5) / p.window if variation == "gaussian" else torch.log(g2 / 5e-5)
    corr = float(torch.corrcoef(torch.stack([z, z2]))[0, 1])
    assert corr == pytest.approx(d2d**2 / sigma**2, abs=0.01)


def test_read_noise_is_fresh_with_the_right_moments() -> None:
    p = RRAMParams(read_noise=0.03)
    g = torch.full((N,), 4e-5, dtype=F64)
    r1, r2 = read(g, p, gen(6)), read(g, p, gen(7))
    rel = r1 / g - 1
    assert abs(float(rel.mean())) < 4 * 0.03 / math.sqrt(N)
    assert float(rel.std()) == pytest.approx(0.03, rel=0.01)
    assert not torch.equal(r1, r2)
    assert torch.equal(read(g, RRAMParams(), gen(6)), g)


def test_power_law_drift() -> None:
    p = RRAMParams(drift_nu=0.05, drift_t0=1.0)
    g0 = torch.full((1000,), 6e-5, dtype=F64)
    dev = sample_device_map((1000,), p, gen(8))
    for t in (10.0, 1e3, 1e5):
        torch.testing.assert_close(drift(g0, t, p, dev), g0 * t**-0.05)
    assert torch.equal(drift(g0, 0.5, p, dev), g0)  # before t0: no drift
    # spread exponents: log G(t)/G(t0) = -nu log(t/t0), nu ~ N(0.05, 0.01^2)
    q = RRAMParams(drift_nu=0.05, drift_nu_sigma=0.01)
    dq = sample_device_map((N,), q, gen(9))
    nu = -torch.log(drift(torch.full((N,), 6e-5, dtype=F64), 1e4, q, dq) / 6e-5) / math.log(1e4)
    assert float(nu.mean()) == pytest.approx(0.05, abs=3e-4) and float(nu.std()) == pytest.approx(0.01, rel=0.02)


def test_stuck_at_fault_rates() -> None:
    p = RRAMParams(p_stuck_on=0.01, p_stuck_off=0.03, drift_nu=0.1, read_noise=0.0)
    dev = sample_device_map((N,), p, gen(10))
    g = program(torch.full((N,), 5e-5, dtype=F64), p, dev, gen(11))
    on, off = float((g == p.g_max).double().mean()), float((g == p.g_min).double().mean())
    for rate, expected in ((on, 0.01), (off, 0.03)):
        assert abs(rate - expected) < 4 * math.sqrt(expected * (1 - expected) / N)
    drifted = drift(g, 1e4, p, dev)
    assert torch.equal(drifted[dev.stuck != 0], g[dev.stuck != 0])  # stuck cells do not drift


@pytest.mark.parametrize("dist", ["gaussian", "lognormal"])
def test_forming_mean_and_std(dist: str) -> None:
    p = RRAMParams(g_min=0.0, g_max=1.0, form_mean=5e-5, form_std=5e-6, form_distribution=dist)
    g = form((N,), p, generator=gen(12), dtype=F64)
    assert float(g.mean()) == pytest.approx(5e-5, rel=0.002) and float(g.std()) == pytest.approx(5e-6, rel=0.01)
    assert (float(g.min()) > 0) if dist == "lognormal" else True


def test_differential_pair_round_trip_and_adc() -> None:
    p = RRAMParams()
    w = torch.randn(1000, generator=gen(13), dtype=F64)
    gp, gn, k = weights_to_pair(w, p, float(w.abs().max()))
    assert float(torch.minimum(gp, gn).max()) == p.g_min  # one device of each pair sits at g_min
    assert float(torch.maximum(gp, gn).max()) == pytest.approx(p.g_max)
    torch.testing.assert_close(pair_to_weights(gp, gn, k), w)
    y = torch.linspace(-3, 3, 10_001, dtype=F64)
    q = adc_quantize(y, 4, 2.0)
    assert len(torch.unique(q)) == 15 and 0.0 in q.tolist()  # 2^4 - 1 codes, zero included
    inside = y.abs() <= 2.0
    assert float((q - y)[inside].abs().max()) <= 2.0 / 7 / 2 + 1e-12
    assert float(q.max()) == 2.0 and float(q.min()) == -2.0


def test_rram_weights_source_statistics() -> None:
    src = RRAMWeights(RRAMParams(g_min=0.0, g_max=1.0, form_mean=5e-5, form_std=1.5e-5, read_noise=0.05), 0.07)
    assert isinstance(src, WeightSource) and isinstance(GaussianWeights(0.07), WeightSource)
    w = src.sample((500, 400), generator=gen(14), dtype=F64)
    assert abs(float(w.mean())) < 4 * 0.07 / math.sqrt(w.numel())
    assert float(w.std()) == pytest.approx(0.07, rel=0.01)  # matches GaussianWeights(0.07)
    torch.testing.assert_close(src.sample((50, 40), generator=gen(15)), src.sample((50, 40), generator=gen(15)))
    # read noise: the variance of (read - w) equals the exact per-cell pair model's on average
    gp, gn = src.sample_pair((N,), generator=gen(16), dtype=F64)
    exact = src.read_pair(gp, gn, generator=gen(17)) - src.gain * (gp - gn)
    matched = src.read(src.gain * (gp - gn), generator=gen(18)) - src.gain * (gp - gn)
    assert float(matched.var()) == pytest.approx(float(exact.var()), rel=0.02)
    expected = 0.05**2 * src.gain**2 * 2 * (5e-5**2 + 1.5e-5**2)
    assert float(exact.var()) == pytest.approx(expected, rel=0.02)


def test_device_cards() -> None:
    for name in CARDS:
        card = load_card(name)
        assert card.sources and all(s.source.strip() for s in card.sources.values())
    lsm = load_card("lsm_40nm")
    assert {s.status for s in lsm.sources.values()} == {"placeholder"}  # PAPERS §2.6: nothing verified
    assert lsm.params.form_distribution == "gaussian" and lsm.status("levels") == "default"
    with pytest.raises(UnknownNameError, match="generic_multilevel"):
        load_card("hfox")
    bad = {"name": "x", "title": "x", "process_source": "s",
           "params": {"levels": {"value": 1, "unit": "levels", "source": "s", "status": "placeholder"}}}
    with pytest.raises(ConfigError, match="levels must be 0"):
        parse_card(bad)
    bad["params"]["levels"]["bogus"] = 1
    with pytest.raises(ConfigError, match="exactly value, unit, source, status"):
        parse_card(bad)
