"""Hand-computed sequences for every neuron model (golden numbers)."""

from __future__ import annotations

import pytest
import torch

from neuro import ALIF, IF, LI, LIF, CubaLIF, Izhikevich, SubtractReset


def _run(module, inputs):
    x = torch.tensor(inputs, dtype=torch.float64).reshape(-1, 1, 1)
    module = module.double() if hasattr(module, "double") else module
    from neuro import simulate

    trace = simulate(module, x, record=True)
    name = next(iter(trace.records)).rsplit(".", 1)[0]
    return trace, name


def _values(t):
    return [round(v, 10) for v in t.flatten().tolist()]


def test_lif_hard_reset_decay_input() -> None:
    # alpha = dt/tau = 0.5, h = v + 0.5 (0 - v) + 0.5 x
    trace, n = _run(LIF(tau_mem=2e-3, dt=1e-3), [1.5, 0.5, 1.5, 0.0, 2.5])
    assert _values(trace[f"{n}.spikes"]) == [0, 0, 1, 0, 1]
    assert _values(trace[f"{n}.v"]) == [0.75, 0.625, 0.0, 0.0, 0.0]


def test_lif_subtract_reset() -> None:
    trace, n = _run(LIF(tau_mem=2e-3, reset=SubtractReset()), [1.5, 0.5, 1.5, 0.0, 2.5])
    assert _values(trace[f"{n}.spikes"]) == [0, 0, 1, 0, 1]
    assert _values(trace[f"{n}.v"]) == [0.75, 0.625, 0.0625, 0.03125, 0.265625]


def test_lif_leak_toward_v_leak_and_input_gain() -> None:
    # no input decay, r = 2: h = v + 0.25 (0.4 - v) + 2 x, from rest v = v_leak = 0.4
    trace, n = _run(LIF(tau_mem=4e-3, v_leak=0.4, r=2.0, decay_input=False, v_threshold=5.0), [0.1, 0.0])
    assert _values(trace[f"{n}.v"]) == [0.6, 0.55]


def test_lif_delayed_subtract_is_snntorch_timing() -> None:
    # snnTorch Leaky(beta=0.5): v_t = 0.5 v_{t-1} + x_t - 1 * [v_{t-1} >= 1]
    lif = LIF.from_snntorch(beta=0.5, threshold=1.0, reset_mechanism="subtract")
    trace, n = _run(lif, [1.2, 0.0, 0.0, 2.0])
    assert _values(trace[f"{n}.spikes"]) == [1, 0, 0, 1]
    assert _values(trace[f"{n}.v"]) == [1.2, -0.4, -0.2, 1.9]


def test_if_integrates_without_leak() -> None:
    trace, n = _run(IF(v_threshold=1.0), [0.4, 0.4, 0.4, -0.3, 0.5])
    assert _values(trace[f"{n}.spikes"]) == [0, 0, 1, 0, 0]
    assert _values(trace[f"{n}.v"]) == [0.4, 0.8, 0.0, -0.3, 0.2]


def test_alif_threshold_adapts() -> None:
    # alpha = 0.5, tau_adapt = 2 ms (a decays by half), beta_adapt = 0.5, no input decay
    alif = ALIF(tau_mem=2e-3, tau_adapt=2e-3, beta_adapt=0.5, decay_input=False)
    trace, n = _run(alif, [1.0, 1.0, 1.0, 1.0])
    # t1: h=1.0 theta=1 spike, v=0, a=1 | t2: h=1.0 theta=1.5 no, a=0.5 | t3: h=1.5 theta=1.25 spike, v=0,
    # a=1.25 | t4: h=1.0 theta=1.625 no, a=0.625
    assert _values(trace[f"{n}.spikes"]) == [1, 0, 1, 0]
    assert _values(trace[f"{n}.v"]) == [0.0, 1.0, 0.0, 1.0]
    assert _values(trace[f"{n}.a"]) == [1.0, 0.5, 1.25, 0.625]


def test_cuba_lif_current_then_membrane() -> None:
    cuba = CubaLIF(tau_syn=2e-3, tau_mem=4e-3, decay_input=False, v_threshold=1.0)
    trace, n = _run(cuba, [1.0, 0.0, 0.0, 0.0])
    # i: 1, 0.5, 0.25, 0.125 ; h = 0.75 v + i: 1.0 (spike -> 0), 0.5, 0.625, 0.59375
    assert _values(trace[f"{n}.i"]) == [1.0, 0.5, 0.25, 0.125]
    assert _values(trace[f"{n}.spikes"]) == [1, 0, 0, 0]
    assert _values(trace[f"{n}.v"]) == [0.0, 0.5, 0.625, 0.59375]


def test_cuba_lif_nir_scaling() -> None:
    # decay_input: i += (dt/tau_syn)(-i + w_in x); v += (dt/tau_mem)(-v + r i)
    cuba = CubaLIF(tau_syn=2e-3, tau_mem=2e-3, w_in=2.0, v_threshold=10.0)
    trace, n = _run(cuba, [1.0, 1.0])
    assert _values(trace[f"{n}.i"]) == [1.0, 1.5]
    assert _values(trace[f"{n}.v"]) == [0.5, 1.0]


def test_li_output_is_membrane() -> None:
    trace, n = _run(LI(tau_mem=2e-3), [2.0, 2.0, 0.0])
    assert _values(trace[f"{n}.output"]) == [1.0, 1.5, 0.75]


def test_izhikevich_matches_reference_algorithm() -> None:
    """The Izhikevich (2003) algorithm (two half steps of v, then u), written out in plain Python floats."""
    a, b, c, d, current = 0.02, 0.2, -65.0, 8.0, 10.0
    v, u, expected = c, b * c, []
    for _ in range(300):
        v += 0.5 * (0.04 * v * v + 5 * v + 140 - u + current)
        v += 0.5 * (0.04 * v * v + 5 * v + 140 - u + current)
        u += a * (b * v - u)
        fired = v >= 30
        expected.append(1.0 if fired else 0.0)
        if fired:
            v, u = c, u + d
    trace, n = _run(Izhikevich(), [current] * 300)
    assert _values(trace[f"{n}.spikes"]) == expected
    assert sum(expected) >= 5


@pytest.mark.parametrize("cls", [LIF, IF, ALIF, CubaLIF])
def test_reset_to_nonzero_v_reset(cls) -> None:
    kwargs = {"v_reset": -0.5}
    if cls is not IF:
        kwargs["decay_input"] = False
    trace, n = _run(cls(**kwargs), [3.0])
    assert _values(trace[f"{n}.v"]) == [-0.5]
