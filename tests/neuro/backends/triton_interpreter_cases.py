"""Triton kernels against the reference on CPU through Triton's interpreter.

Run by ``test_triton.py`` in a subprocess with ``TRITON_INTERPRET=1`` (the variable must be set
before Triton is imported); not collected on its own (the file name does not start with ``test_``).
"""

from __future__ import annotations

import os

import pytest
import torch

from neuro import ALIF, IF, LIF, PLIF, CubaLIF, backends
from neuro.core.reset import resolve_reset
from neuro.core.surrogate import ATan, Erf, FastSigmoid, Rectangular, Sigmoid, Triangle
from tests.neuro.backends.compare import assert_same

assert os.environ.get("TRITON_INTERPRET") == "1", "run through tests/neuro/backends/test_triton.py"

LIF_OPTIONS = [("hard", False, False, True), ("hard", True, True, False), ("subtract", False, True, True),
               ("subtract", True, False, False), ("none", False, False, False), ("none", True, True, True)]


def _x(shape=(7, 3, 9), dtype=torch.float64, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=g, dtype=dtype) * 1.5 + 0.8


@pytest.mark.parametrize(("reset", "delayed", "detach", "decay"), LIF_OPTIONS)
def test_lif(reset, delayed, detach, decay):
    lif = LIF(tau_mem=5e-3, v_reset=-0.1, v_leak=0.05, reset=resolve_reset({"name": reset, "delayed": delayed}),
              detach_reset=detach, decay_input=decay, learn_tau=True, learn_threshold=True).double()
    assert_same(lif, _x(), "triton")


@pytest.mark.parametrize(("reset", "delayed"), [("hard", False), ("subtract", True)])
def test_cuba_plif_if(reset, delayed):
    rule = resolve_reset({"name": reset, "delayed": delayed})
    assert_same(CubaLIF(tau_syn=4e-3, tau_mem=5e-3, reset=rule, learn_tau=True, w_in=1.3).double(), _x(), "triton")
    if not delayed:
        assert_same(PLIF(init_tau_mem=3e-3, reset=reset, learn_threshold=True).double(), _x(), "triton")
        assert_same(IF(v_threshold=1.2, r=0.7, reset=reset).double(), _x(), "triton")


@pytest.mark.parametrize("surrogate", [ATan(), Sigmoid(), FastSigmoid(), Triangle(), Rectangular(0.8, 0.7), Erf()],
                         ids=lambda s: type(s).__name__)
def test_surrogates(surrogate):
    assert_same(LIF(tau_mem=3e-3, surrogate=surrogate, learn_threshold=True).double(), _x(), "triton")


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_constant_neurons_save_the_membrane(dtype):
    """No scalar needs a gradient: the forward keeps ``h`` and the backward reads neither the input nor a
    recompute (the papers' transformer neuron; a constant CubaLIF still recomputes)."""
    from neuro.layers.neuron_setting import NeuronSetting

    assert_same(NeuronSetting().lif(), _x(dtype=dtype), "triton")
    assert_same(NeuronSetting().attn_lif(), _x(dtype=dtype), "triton")
    assert_same(LIF(tau_mem=3e-3, reset=resolve_reset({"name": "subtract", "delayed": True})).to(dtype),
                _x(dtype=dtype), "triton")
    assert_same(CubaLIF(tau_syn=4e-3, tau_mem=5e-3).to(dtype), _x(dtype=dtype), "triton")


def _half_cases():
    from neuro.layers.neuron_setting import NeuronSetting

    return {"paper neuron": lambda: NeuronSetting().lif(),
            "LIF learnable": lambda: LIF(tau_mem=5e-3, v_reset=-0.1, v_leak=0.05, learn_tau=True,
                                         learn_threshold=True),
            "CubaLIF delayed": lambda: CubaLIF(tau_syn=4e-3, tau_mem=5e-3, learn_tau=True,
                                               reset=resolve_reset({"name": "subtract", "delayed": True}))}


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=str)
@pytest.mark.parametrize("case", sorted(_half_cases()))
def test_half_precision_inputs_compute_in_float32(case, dtype):
    """Mixed precision: float16/bfloat16 tensors (float32 parameters) run on the kernels in float32 and are stored
    back in their dtype; against the float32 reference on the same (exactly representable) values: the same
    spikes, and gradients equal up to the final rounding."""
    module = _half_cases()[case]()
    g = torch.Generator().manual_seed(0)
    x16 = (torch.randn((7, 3, 9), generator=g) * 1.5 + 0.8).to(dtype)
    v16 = (torch.randn((3, 9), generator=g) * 0.3).to(dtype)
    w16 = (torch.randint(-8, 9, x16.shape, generator=g) / 8).to(dtype)
    got = {}
    for backend, work in (("triton", dtype), ("reference", torch.float32)):
        x = x16.to(work).clone().requires_grad_()
        base = module.initial_state(x[0].detach())
        state = type(base)(*(v16.to(work).clone().requires_grad_() for _ in base))
        with backends.use(backend, strict=True):
            out, final = module(x, state)
        loss = (out * w16.to(work)).sum() + sum((f * 0.25).sum() for f in final)
        params = [q for q in module.parameters() if q.requires_grad]
        grads = torch.autograd.grad(loss, [x, *state, *params])
        got[backend] = (out, final, grads, len(state))
    (out, final, grads, n_state), (r_out, r_final, r_grads, _) = got["triton"], got["reference"]
    assert out.dtype == dtype and all(f.dtype == dtype for f in final)
    assert torch.equal(out.float(), r_out)
    half_tol = {"rtol": 1e-2, "atol": 1e-3}  # one rounding to float16/bfloat16 (the interpreter truncates bfloat16)
    for a, b in zip(final, r_final, strict=True):
        torch.testing.assert_close(a.float(), b.to(dtype).float(), **half_tol)
    for k, (a, b) in enumerate(zip(grads, r_grads, strict=True)):
        if k <= n_state:  # input and state gradients: stored in the input's dtype
            assert a.dtype == dtype
            torch.testing.assert_close(a.float(), b.to(dtype).float(), **half_tol)
        else:  # float32 parameters: float32 sums
            torch.testing.assert_close(a, b, rtol=2e-4, atol=2e-4)


@pytest.mark.parametrize(("reset", "detach"), [("hard", False), ("subtract", True), ("subtract", False),
                                               ("none", False)])
def test_alif(reset, detach):
    alif = ALIF(tau_mem=4e-3, tau_adapt=9e-3, beta_adapt=0.4, reset=reset, detach_reset=detach, learn_tau=True,
                learn_threshold=True).double()
    assert_same(alif, _x(), "triton")


@pytest.mark.parametrize("surrogate", [Sigmoid(), Erf(), Rectangular(0.8, 0.7)], ids=lambda s: type(s).__name__)
def test_alif_surrogates_constant_and_float32(surrogate):
    assert_same(ALIF(tau_mem=3e-3, surrogate=surrogate).double(), _x(), "triton")  # no scalar gradients
    assert_same(ALIF(tau_mem=4e-3, tau_adapt=1e-2, beta_adapt=0.5, surrogate=surrogate, learn_threshold=True),
                _x((9, 300), torch.float32), "triton")


def _recorded_traces_match(neuron: torch.nn.Module) -> None:
    from neuro import Sequential, simulate

    net = Sequential(torch.nn.Linear(4, 6), neuron).double()
    x = _x((8, 2, 4))
    traces = {}
    for name in ("reference", "triton"):
        with torch.no_grad(), backends.use(name, strict=True):
            traces[name] = simulate(net, x, record=True)
    for key in traces["reference"]:
        torch.testing.assert_close(traces["triton"][key], traces["reference"][key], rtol=1e-12, atol=1e-12)


def test_alif_record_and_half_precision():
    _recorded_traces_match(ALIF(tau_mem=3e-3, beta_adapt=0.3))
    alif = ALIF(tau_mem=3e-3, beta_adapt=0.3, learn_threshold=True)
    x16 = _x((7, 3, 9), torch.float32).to(torch.float16)
    xs = {"triton": x16.clone().requires_grad_(), "reference": x16.float().requires_grad_()}
    outs = {}
    for name, xx in xs.items():
        with backends.use(name, strict=True):
            out, _ = alif(xx)
        w = (torch.arange(out.numel(), dtype=out.dtype).view_as(out) % 5 - 2) / 4
        out.mul(w).sum().backward()
        outs[name] = out
    assert outs["triton"].dtype == torch.float16 and torch.equal(outs["triton"].float(), outs["reference"])
    torch.testing.assert_close(xs["triton"].grad.float(), xs["reference"].grad.half().float(), rtol=1e-2, atol=1e-3)


def test_scalar_gradient_without_an_input_gradient():
    """Only the threshold needs a gradient: the input is kept for the scalar sums though it gets none."""
    lif = LIF(tau_mem=4e-3, learn_threshold=True).double()
    x = _x()
    grads = {}
    for backend in ("reference", "triton"):
        with backends.use(backend, strict=True):
            out, _ = lif(x)
        grads[backend] = torch.autograd.grad((out * torch.linspace(-1, 1, out.numel(), dtype=x.dtype)
                                              .view_as(out)).sum(), lif.v_threshold)[0]
    torch.testing.assert_close(grads["triton"], grads["reference"], rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("which", ["spikes", "spikes and current"])
def test_state_that_misses_the_loss_gets_no_buffer(which):
    """A loss of the spikes alone (or of the spikes and CubaLIF's final current): the final membrane's (and the
    current's) gradient is zero in the kernel, without a zero-filled buffer, and the gradients match."""
    neuron = CubaLIF(tau_syn=4e-3, tau_mem=5e-3, reset="subtract", learn_tau=True).double()
    x = _x()
    grads = {}
    for backend in ("reference", "triton"):
        xx = x.clone().requires_grad_()
        with backends.use(backend, strict=True):
            out, state = neuron(xx)
        loss = (out * torch.linspace(-1, 1, out.numel(), dtype=x.dtype).view_as(out)).sum()
        if which != "spikes":
            loss = loss + state.i.sum() * 0.3
        grads[backend] = torch.autograd.grad(loss, [xx, *neuron.parameters()])
    for a, b in zip(grads["reference"], grads["triton"], strict=True):
        torch.testing.assert_close(b, a, rtol=1e-9, atol=1e-9)


def test_constant_vectors_are_cached_and_stacked_alike():
    from neuro.backends import _triton_glue as glue
    from neuro.backends._spec import lif_scalars, lif_spec

    lif = LIF(tau_mem=3e-3, learn_threshold=True).double()
    x = _x()
    spec = lif_spec(lif.params(), x.dtype)
    scalars = lif_scalars(spec, x)
    first = glue._constants(spec, scalars, x)
    assert glue._constants(spec, scalars, x) is first  # no new host-to-device copy per call
    values = (*scalars[:4], spec.consts["v_reset"], *scalars[4:], *first[-2:].tolist())
    torch.testing.assert_close(glue._stacked(values, x.device, x.dtype), first, rtol=0, atol=0)
    meta = glue._stacked((*(torch.zeros((), device="meta"),) * 4, 0.0, 0.0, 0.0, 1.0, 2.0), torch.device("meta"),
                         x.dtype)
    assert meta.shape == (9,) and meta.device.type == "meta"


def test_float32_and_a_partial_block():
    assert_same(LIF(tau_mem=2e-3, decay_input=False, detach_reset=True), _x((9, 300), torch.float32), "triton")


def test_record_matches_reference():
    _recorded_traces_match(CubaLIF(tau_syn=3e-3, tau_mem=4e-3))


def test_declined_inputs_fall_back():
    from neuro.neurons.lif import LIFParameters, LIFState, lif_step

    x, state = torch.rand(3, 4), LIFState(torch.zeros(4))
    assert backends.resolve("lif", lif_step, x, state, LIFParameters(), fallback="sequence")[0] != "triton"
    with backends.use("triton"):  # selected explicitly, the interpreter takes CPU tensors
        assert backends.resolve("lif", lif_step, x, state, LIFParameters(), fallback="sequence")[0] == "triton"
        per_neuron = LIF(tau_mem=torch.full((9,), 3e-3, dtype=torch.float64)).double()  # no kernel for these
        assert backends.resolve("lif", lif_step, _x(), LIFState(torch.zeros(3, 9, dtype=torch.float64)),
                                per_neuron.params(), fallback="sequence")[0] != "triton"
        out, _ = per_neuron(_x())
    with backends.use("reference"):
        torch.testing.assert_close(out, per_neuron(_x())[0])


def test_gpu_check_script_dry_run_on_cpu():
    """The GPU session's script, run end to end on CPU tensors (the interpreter stands in for the GPU)."""
    from neuro.bench.gpu_check import gpu_check

    report = gpu_check(size="tiny", repeats=1, log=lambda _: None, device="cpu")
    assert report["triton_vs_reference"] and set(report["triton_vs_reference"].values()) == {"pass"}
    assert set(report["timing"]) == {"W1", "W3-fwd", "W3-train", "W5", "meta-spikeformer"}
    for row in report["timing"].values():
        assert all(d == 0 and n > 0 for d, n in row["mismatch_float32"].values())


def test_gpu_check_compares_half_inputs_from_the_same_resting_state():
    """A float16 run rests at float16's v_leak (0.05 is 0.0499878 there), so the check gives the float32
    reference that state too. From float32's 0.05, one membrane of this input is exactly the threshold
    (0.8 * 0.05 + 0.01 + 0.2 * 4.75 = 1) and fires; from float16's it is just below and does not: the check
    counted the kernel's right answer as an error (the first H200 run of the float16 checks)."""
    from neuro.bench.gpu_check import _TOLERANCES, _agree, _modules

    make = dict(_modules())["LIF reset=hard delayed=False detach=False decay_input=True"]
    ok, detail = _agree(make, "cpu", torch.float16, (1, 8, 1000), _TOLERANCES[torch.float16])
    assert ok, detail
    rest = make().initial_state(torch.zeros(1, dtype=torch.float16))
    assert float(rest.v) != 0.05  # the premise: float16's resting state differs from float32's
