"""The fused CPU backend against the reference: values, gradients, fallbacks."""

from __future__ import annotations

import itertools

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from neuro import ALIF, IF, LIF, PLIF, CubaLIF, backends
from neuro.core.reset import resolve_reset
from neuro.core.surrogate import ATan, Erf, FastSigmoid, Rectangular, Sigmoid, Surrogate, Triangle
from neuro.errors import BackendError
from tests.neuro.backends.compare import assert_same, run

pytest.importorskip("numba")

RESETS = ["hard", "subtract", "none"]
SURROGATES = [ATan(), Sigmoid(), FastSigmoid(), Triangle(), Rectangular(width=0.8, height=0.7), Erf()]


def _reset(name: str, delayed: bool):
    return resolve_reset({"name": name, "delayed": delayed})


def _input(dtype=torch.float64, shape=(11, 3, 9), seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(shape, generator=g, dtype=dtype) * 1.5 + 0.8)


#: Option sets of the fast run: every reset rule, both timings, both detach settings, both input scalings
#: (each option set is its own compiled kernel, so the full product runs under ``-m slow``).
LIF_FAST = [("hard", False, False, True), ("hard", True, True, False), ("subtract", False, True, True),
            ("subtract", True, False, False), ("none", False, False, False), ("none", True, True, True)]
LIF_ALL = list(itertools.product(RESETS, [False, True], [False, True], [False, True]))
SLOW = pytest.mark.slow


def _lif(reset, delayed, detach, decay, **kw):
    return LIF(tau_mem=5e-3, v_reset=-0.1, v_leak=0.05, reset=_reset(reset, delayed), detach_reset=detach,
               decay_input=decay, learn_tau=True, learn_threshold=True, **kw).double()


@pytest.mark.parametrize(("reset", "delayed", "detach", "decay"), LIF_FAST)
def test_lif_matches_reference(reset, delayed, detach, decay):
    assert_same(_lif(reset, delayed, detach, decay), _input(), "fused")


@pytest.mark.parametrize(("reset", "detach", "decay", "surrogate"),
                         [("hard", True, False, ATan()), ("hard", False, True, Sigmoid()),
                          ("subtract", True, True, Erf()), ("subtract", False, False, Triangle()),
                          ("none", False, True, FastSigmoid())], ids=str)
def test_two_pass_backward_of_fixed_parameters(reset, detach, decay, surrogate):
    """Without learnable scalars (the other tests here have them): the backward recomputes h into the gradient
    buffer, then runs the adjoint over it in place (every LIF-family option but the synaptic current)."""
    lif = LIF(tau_mem=5e-3, v_reset=-0.1, v_leak=0.05, reset=reset, detach_reset=detach, decay_input=decay,
              surrogate=surrogate).double()
    assert not any(p.requires_grad for p in lif.parameters())
    assert_same(lif, _input(), "fused")
    assert_same(IF(reset=reset, detach_reset=detach, surrogate=surrogate).double(), _input(), "fused")


@SLOW
@pytest.mark.parametrize(("reset", "delayed", "detach", "decay"), LIF_ALL)
def test_lif_matches_reference_every_option(reset, delayed, detach, decay):
    assert_same(_lif(reset, delayed, detach, decay), _input(), "fused")


def _cuba(reset, delayed, detach):
    return CubaLIF(tau_syn=4e-3, tau_mem=5e-3, reset=_reset(reset, delayed), detach_reset=detach,
                   learn_tau=True, learn_threshold=True, w_in=1.3).double()


@pytest.mark.parametrize(("reset", "delayed", "detach"), [("hard", False, False), ("subtract", True, True)])
def test_cuba_lif_matches_reference(reset, delayed, detach):
    assert_same(_cuba(reset, delayed, detach), _input(), "fused")


@SLOW
@pytest.mark.parametrize(("reset", "delayed", "detach"), list(itertools.product(RESETS, [False, True], [False, True])))
def test_cuba_lif_matches_reference_every_option(reset, delayed, detach):
    assert_same(_cuba(reset, delayed, detach), _input(), "fused")


def _plif_if_alif(reset, detach):
    assert_same(PLIF(init_tau_mem=3e-3, reset=reset, detach_reset=detach, learn_threshold=True).double(),
                _input(), "fused")
    assert_same(IF(v_threshold=1.2, r=0.7, reset=reset, detach_reset=detach, learn_threshold=True).double(),
                _input(), "fused")
    assert_same(ALIF(tau_mem=4e-3, tau_adapt=9e-3, beta_adapt=0.4, reset=reset, detach_reset=detach,
                     learn_tau=True, learn_threshold=True).double(), _input(), "fused")


@pytest.mark.parametrize(("reset", "detach"), [("hard", False), ("subtract", True), ("none", False)])
def test_plif_if_alif_match_reference(reset, detach):
    _plif_if_alif(reset, detach)


@SLOW
@pytest.mark.parametrize(("reset", "detach"), list(itertools.product(RESETS, [False, True])))
def test_plif_if_alif_match_reference_every_option(reset, detach):
    _plif_if_alif(reset, detach)


@pytest.mark.parametrize("surrogate", SURROGATES, ids=lambda s: type(s).__name__)
def test_every_surrogate(surrogate):
    assert_same(LIF(tau_mem=3e-3, surrogate=surrogate, learn_threshold=True).double(), _input(), "fused")


@SLOW
@pytest.mark.parametrize("surrogate", SURROGATES, ids=lambda s: type(s).__name__)
def test_every_surrogate_alif(surrogate):
    assert_same(ALIF(tau_mem=3e-3, surrogate=surrogate).double(), _input(), "fused")


def test_float32_spikes_bit_identical_and_grads_close():
    x = _input(torch.float32, (20, 4, 33))
    assert_same(LIF(tau_mem=2e-3, decay_input=False, detach_reset=True), x, "fused")
    assert_same(ALIF(tau_mem=4e-3, tau_adapt=1e-2, beta_adapt=0.5), x, "fused")
    assert_same(LIF(tau_mem=2e-3, surrogate="sigmoid", learn_threshold=True), x, "fused")  # in-kernel exp32
    assert_same(ALIF(tau_mem=4e-3, surrogate="sigmoid"), x, "fused")
    assert_same(ALIF(tau_mem=4e-3, surrogate="erf"), x, "fused")  # torch-computed exp


def test_exp32_within_two_ulp_of_exp():
    """The kernels' vectorisable float32 ``exp`` (the Sigmoid surrogate's) against float64 ``exp`` rounded to
    float32: within 2 ulp over its whole range, exact at 0, clamped outside [-87, 88], NaN kept."""
    import numpy as np
    from numba import njit

    from neuro.backends._numba_lif import exp32

    @njit
    def apply(a, out):
        for i in range(a.shape[0]):
            out[i] = exp32(a[i])

    a = np.concatenate([np.linspace(-87, 88, 200_001, dtype=np.float32),
                        np.float32([0.0, -0.0, 1e-30, -1e-30, np.log(2) / 2, -np.log(2) / 2, np.nan, -100.0, 100.0])])
    out = np.empty_like(a)
    apply(a, out)
    assert np.isnan(out[-3])  # a NaN membrane gives a NaN gradient, as torch's sigmoid does
    inside = (a >= -87) & (a <= 88)
    ref = np.exp(a[inside].astype(np.float64)).astype(np.float32)
    ulp = np.abs(out[inside].view(np.int32).astype(np.int64) - ref.view(np.int32).astype(np.int64))
    assert ulp.max() <= 2, (ulp.max(), a[inside][ulp.argmax()])
    assert ulp.mean() < 0.5
    assert out[a == 0].tolist() == [1.0, 1.0]
    assert out[-2] == out[a == -87][0] and out[-1] == out[a == 88][0]  # -100 and 100: clamped


@given(t=st.integers(1, 7), shape=st.lists(st.integers(1, 5), min_size=1, max_size=3),
       options=st.sampled_from(LIF_FAST), tau=st.floats(1.2e-3, 50e-3), threshold=st.floats(0.2, 2.0),
       seed=st.integers(0, 1000))
def test_lif_shapes_and_parameters(t, shape, options, tau, threshold, seed):
    reset, delayed, detach, decay = options
    lif = LIF(tau_mem=tau, v_threshold=threshold, reset=_reset(reset, delayed), detach_reset=detach,
              decay_input=decay, learn_tau=True).double()
    assert_same(lif, _input(shape=(t, *shape), seed=seed), "fused", seed=seed)


def test_multiple_blocks_and_long_sequences():
    from neuro.backends._numba_lif import BLOCK, backward_block

    n = BLOCK + 37  # forward: two blocks, one partial
    x = _input(shape=(3, n))
    assert_same(LIF(learn_threshold=True).double(), x, "fused")
    t = 2 * 32768 // 16  # backward blocks shrink with T
    assert backward_block(t) == 16
    assert_same(LIF(tau_mem=4e-3).double(), _input(shape=(t, 2, 20)) * 0.5, "fused")


@pytest.mark.parametrize("make", [lambda: _lif("hard", False, True, True), lambda: CubaLIF(tau_syn=4e-3).double(),
                                  lambda: ALIF(learn_tau=True).double()], ids=["lif", "cuba", "alif"])
def test_any_memory_layout_matches_and_is_kept(make):
    """A channels-last convolution output (T, B, C, H, W) runs without a copy and its spikes come back in the same
    layout; a layout whose time dimension is not outermost is copied and still matches."""
    base = _input(shape=(6, 2, 4, 5, 3))  # (T, B, H, W, C) in memory
    channels_last = base.permute(0, 1, 4, 2, 3)
    assert_same(make(), channels_last, "fused")
    with backends.use("fused", strict=True):
        out, state = make()(channels_last)
        again, _ = make()(channels_last, state)
    assert out.stride() == channels_last.stride() and state.v.stride() == channels_last[0].stride()
    assert torch.equal(again, make()(channels_last.contiguous(), type(state)(*(f.contiguous() for f in state)))[0])
    batch_major = _input(shape=(2, 6, 7)).transpose(0, 1)  # (T, B, N) with B outermost
    assert_same(make(), batch_major, "fused")


def test_final_state_continues_a_sequence():
    lif = LIF(tau_mem=3e-3).double()
    x = _input(shape=(12, 2, 5))
    with backends.use("fused", strict=True):
        whole, _ = lif(x)
        first, state = lif(x[:5])
        second, _ = lif(x[5:], state)
    assert torch.equal(whole, torch.cat([first, second]))


def test_record_matches_reference_without_and_with_grad():
    from neuro import Sequential, simulate

    net = Sequential(torch.nn.Linear(4, 6), ALIF(tau_mem=3e-3, beta_adapt=0.3)).double()
    x = _input(shape=(9, 2, 4))
    with torch.no_grad():
        traces = {}
        for name in ("reference", "fused"):
            with backends.use(name, strict=True):
                traces[name] = simulate(net, x, record=True)
    for key in traces["reference"]:
        torch.testing.assert_close(traces["fused"][key], traces["reference"][key], rtol=1e-12, atol=1e-12)
    with backends.use("fused", strict=True):  # recording while training: the graph is kept, records detached
        trace = simulate(net, x, record=True)
    trace.output.sum().backward()
    assert net[0].module.weight.grad is not None
    torch.testing.assert_close(trace["1.v"], traces["reference"]["1.v"], rtol=1e-12, atol=1e-12)


class _Custom(Surrogate):
    def grad(self, x):
        return torch.ones_like(x)


@pytest.mark.parametrize("case", ["float16", "per_neuron", "custom_surrogate", "v_reset_grad", "cuda_like"])
def test_unsupported_inputs_fall_back(case):
    from neuro.backends.fused import why_not
    from neuro.neurons.lif import LIFParameters, LIFState, lif_step

    x = torch.rand(4, 2, 3)
    state = LIFState(torch.zeros(2, 3))
    params = LIFParameters()
    if case == "float16":
        x, state = x.half(), LIFState(state.v.half())
    elif case == "per_neuron":
        params = params._replace(v_threshold=torch.full((3,), 0.5))
    elif case == "custom_surrogate":
        params = params._replace(surrogate=_Custom())
    elif case == "v_reset_grad":
        params = params._replace(v_reset=torch.tensor(0.1, requires_grad=True))
    else:
        x = x.to("meta")
    reason = why_not(lif_step, x, state, params)
    assert reason
    name, _ = backends.resolve("lif", lif_step, x, state, params, fallback="sequence")
    assert name == "reference"
    with pytest.raises(BackendError), backends.use("fused", strict=True):
        backends.resolve("lif", lif_step, x, state, params, fallback=None)


def test_unsupported_module_still_runs_and_matches():
    lif = LIF(v_threshold=torch.linspace(0.5, 1.5, 9)).double()
    ref = run(lif, _input(), "reference")
    got = run(lif, _input(), "fused", strict=False)
    torch.testing.assert_close(got[0], ref[0])


def test_auto_prefers_fused_for_supported_cpu_inputs():
    from neuro.neurons.lif import LIFParameters, LIFState, lif_step

    x = torch.rand(3, 2)
    name, _ = backends.resolve("lif", lif_step, x, LIFState(torch.zeros(2)), LIFParameters(), fallback="sequence")
    assert name == "fused"


def test_float64_gradcheck_of_the_smooth_paths():
    """torch.autograd.gradcheck where the maths is differentiable: detached resets, final state and scalars."""
    from neuro.backends._fused_lif import _LIFSequence
    from neuro.backends._spec import lif_spec
    from neuro.neurons.lif import LIFParameters

    for reset in ("hard", "subtract", "none"):
        spec = lif_spec(LIFParameters(reset=resolve_reset(reset), detach_reset=True, surrogate=Sigmoid()),
                        torch.float64)
        x = (torch.rand(6, 5, dtype=torch.float64) * 0.9).requires_grad_()
        v0 = (torch.rand(5, dtype=torch.float64) * 0.5).requires_grad_()
        i0 = torch.zeros(5, dtype=torch.float64)
        names = ("decay", "leak", "gain", "v_threshold")
        scalars = [spec.scalars[k].clone().requires_grad_() for k in names]

        def final_state(x, v0, decay, leak, gain, vth, spec=spec, i0=i0):
            zero = torch.zeros((), dtype=torch.float64)
            return _LIFSequence.apply(spec, False, x, v0, i0, decay, leak, gain, vth, zero, zero)[1]

        assert torch.autograd.gradcheck(final_state, (x, v0, *scalars))


def test_gradients_reach_scalar_tensors_v_leak_r_tau():
    """Scalars the modules keep as constants may still be tensors that need grad in functional use."""
    from neuro.backends import fused, reference
    from neuro.neurons.lif import LIFParameters, LIFState, lif_step

    x = _input(shape=(8, 2, 5))
    grads = []
    for op in (reference.run_steps, fused.run):
        leaves = [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in (0.2, 1.3, 4e-3, 0.9)]
        v_leak, r, tau, vth = leaves
        params = LIFParameters(tau_mem=tau, v_threshold=vth, v_leak=v_leak, r=r)
        out, state, _ = op(lif_step, x, LIFState(torch.zeros(2, 5, dtype=torch.float64)), params, False)
        loss = (out * torch.linspace(-1, 1, out.numel(), dtype=torch.float64).view_as(out)).sum() + state.v.sum()
        grads.append(torch.autograd.grad(loss, leaves))
    for a, b in zip(*grads, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-9)


def test_neuro_imports_and_runs_without_numba_and_triton():
    """Accelerators missing (or raising on import): neuro imports, every layer runs on the torch paths."""
    import subprocess
    import sys
    from pathlib import Path

    code = """
import sys
sys.modules["numba"] = None   # import numba -> ImportError
sys.modules["triton"] = None
import torch, neuro
from neuro import backends
from neuro.layers import EventLinear, RecurrentLIF
status = backends.available()
assert status["reference"] == "available" and status["fused"] != "available", status
assert status["triton"] != "available", status
x = (torch.rand(6, 2, 8) < 0.2).float()
assert neuro.LIF()(x)[0].shape == (6, 2, 8)
assert EventLinear(8, 3)(x).shape == (6, 2, 3)
with torch.no_grad():
    assert RecurrentLIF(8)(x)[0].shape == (6, 2, 8)
print("ok", status["fused"])
"""
    root = Path(__file__).resolve().parents[3]
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root, check=False)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.startswith("ok numba is not usable")
