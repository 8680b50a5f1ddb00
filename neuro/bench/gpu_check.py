"""``neuro bench --gpu-check``: the few-minute check to run when a CUDA GPU is available.

1. The Triton backend against the reference on the GPU: every LIF-family option set and ALIF, float32 and
   float64, spikes bit-identical and every gradient close (same checks as the CPU tests); float16 and
   bfloat16 inputs against the float32 reference (the kernels compute them in float32).
2. W1, W3 (forward, forward + backward) and W5 on the GPU: neuro (automatic backend: Triton for the
   neurons) against SpikingJelly (its own CUDA/Triton backends, chosen automatically) and plain
   torch, spikes verified first, medians of round-robin repeats with CUDA synchronisation.
3. A training step of the 15.1M Meta-SpikeFormer (224x224, T=4, B=16) against the same model with
   SpikingJelly's LIF nodes (:mod:`neuro.bench.meta`), spikes verified first, with peak GPU memory.

Prints each line as it goes and returns a JSON-able report naming the card.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import Any

import torch

__all__ = ["gpu_check"]

_OPTIONS = [("hard", False, False, True), ("hard", True, True, False), ("subtract", False, True, True),
            ("subtract", True, False, False), ("none", False, False, False), ("none", True, True, True)]


def _modules() -> list[tuple[str, Callable[[], torch.nn.Module]]]:
    from neuro import ALIF, IF, LIF, PLIF, CubaLIF
    from neuro.core.reset import resolve_reset

    def rule(name: str, delayed: bool):
        return resolve_reset({"name": name, "delayed": delayed})

    cases = [(f"LIF reset={r} delayed={d} detach={det} decay_input={dec}",
              lambda r=r, d=d, det=det, dec=dec: LIF(tau_mem=5e-3, v_reset=-0.1, v_leak=0.05, reset=rule(r, d),
                                                     detach_reset=det, decay_input=dec, learn_tau=True,
                                                     learn_threshold=True))
             for r, d, det, dec in _OPTIONS]
    cases += [("CubaLIF subtract delayed", lambda: CubaLIF(tau_syn=4e-3, tau_mem=5e-3, reset=rule("subtract", True),
                                                           learn_tau=True)),
              ("PLIF hard", lambda: PLIF(init_tau_mem=3e-3, learn_threshold=True)),
              ("IF subtract", lambda: IF(v_threshold=1.2, r=0.7, reset="subtract")),
              ("ALIF subtract", lambda: ALIF(tau_mem=4e-3, tau_adapt=9e-3, beta_adapt=0.4, reset="subtract",
                                             learn_tau=True, learn_threshold=True))]
    for sg in ("sigmoid", "fast_sigmoid", "triangle", "rectangular", "erf"):
        cases.append((f"LIF surrogate={sg}", lambda sg=sg: LIF(tau_mem=3e-3, surrogate=sg, learn_threshold=True)))
    return cases


def _agree(make: Callable[[], torch.nn.Module], device: str, dtype: torch.dtype, shape: tuple[int, ...],
           tol: dict[str, float]) -> tuple[bool, str]:
    """Spikes bit-identical and every gradient close between the reference and the Triton backend.

    float16/bfloat16 inputs (mixed precision: float32 parameters) are compared with the float32 reference on the
    same values: the kernels compute in float32, so the spikes must match and the input gradient must equal the
    reference's rounded to ``dtype`` (within ``tol``); the parameters' gradients within float32 tolerance.
    Returns the verdict and, for a failure, what differed: how many spikes (and, for float16/bfloat16, how many
    of each backend's spikes differ from a float64 reference on the same values, which tells a rounding tie at
    the threshold from a wrong kernel) or the largest gradient error of each tensor.
    """
    from neuro import backends

    half = dtype in (torch.float16, torch.bfloat16)
    module = make().to(device, torch.float32 if half else dtype)
    g = torch.Generator(device=device).manual_seed(0)
    x = (torch.randn(shape, generator=g, device=device) * 1.5 + 0.8).to(dtype)
    w = (torch.randint(-8, 9, shape, generator=g, device=device) / 8).to(dtype)  # exact in every dtype
    # The resting state in the input's dtype (a float16 v_leak is not float32's), given to both backends.
    rest = module.initial_state(x[0])
    outs = {}
    for backend in ("reference", "triton"):
        work = torch.float32 if half and backend == "reference" else dtype
        xx = x.to(work).clone().requires_grad_()
        with backends.use(backend, strict=backend == "triton"):
            out, state = module(xx, type(rest)(*(f.to(work) for f in rest)))
        loss = (out * w.to(work)).sum() + sum(f.sum() * 0.25 for f in state)
        params = [p for p in module.parameters() if p.requires_grad]
        outs[backend] = (out.detach(), torch.autograd.grad(loss, [xx, *params]))
    (o_ref, g_ref), (o_tri, g_tri) = outs["reference"], outs["triton"]
    if not torch.equal(o_ref, o_tri.to(o_ref.dtype)):
        detail = f"{int((o_ref != o_tri.to(o_ref.dtype)).sum())} of {o_ref.numel()} spikes differ"
        if half:
            with backends.use("reference"), torch.no_grad():
                o64 = make().to(device, torch.float64)(x.double(), type(rest)(*(f.double() for f in rest)))[0]
            detail += (f"; against float64 on the same values: reference {int((o_ref.double() != o64).sum())}, "
                       f"triton {int((o_tri.double() != o64).sum())}")
        return False, detail
    pairs = list(zip(g_ref, g_tri, strict=True))
    tols = [tol] * len(pairs)
    if half:
        pairs[0] = (g_ref[0].to(dtype).float(), g_tri[0].float())
        tols = [tol] + [{"rtol": 2e-4, "atol": 2e-4}] * (len(pairs) - 1)
    bad = [f"gradient {k}: max |diff| {float((a - b.to(a.dtype)).abs().max()):.3g}"
           for k, ((a, b), t) in enumerate(zip(pairs, tols, strict=True)) if not torch.allclose(a, b.to(a.dtype), **t)]
    return not bad, "; ".join(bad)


_TOLERANCES = {torch.float32: {"rtol": 2e-4, "atol": 2e-4}, torch.float64: {"rtol": 1e-9, "atol": 1e-9},
               torch.float16: {"rtol": 1e-2, "atol": 1e-3}, torch.bfloat16: {"rtol": 1e-2, "atol": 1e-3}}


def _check_triton(log: Callable[[str], None], device: str, shape: tuple[int, ...]) -> dict[str, str]:
    results = {}
    for dtype, tol in _TOLERANCES.items():
        for name, make in _modules():
            key = f"{name} {str(dtype).replace('torch.', '')}"
            try:
                ok, detail = _agree(make, device, dtype, shape, tol)
            except Exception as exc:  # a kernel that fails to build here is a finding, not the end of the check
                results[key] = f"ERROR {type(exc).__name__}: {exc}"
                log(f"  ERROR {key}: {type(exc).__name__}: {exc}")
                continue
            results[key] = "pass" if ok else f"FAIL: {detail}"
            log(f"  pass  {key}" if ok else f"  FAIL  {key}: {detail}")
    return results


def gpu_check(size: str = "full", repeats: int = 10, log: Callable[[str], None] = print,
              device: str = "cuda") -> dict[str, Any]:
    """Run both parts (see the module docstring) and return the report.

    ``device="cpu"`` is a dry run of the same code for tests (Triton's interpreter must be on).
    """
    from neuro import backends
    from neuro.bench.peers import versions

    if device == "cuda" and not torch.cuda.is_available():
        log("no CUDA device: nothing to check")
        return {"error": "no CUDA device"}
    card = torch.cuda.get_device_name(0) if device == "cuda" else "cpu (dry run)"
    report: dict[str, Any] = {"gpu": card, "versions": versions(), "backends": backends.available(), "timing": {}}
    log(f"GPU: {card}; backends: {report['backends']}")
    t0 = time.perf_counter()
    shape = (16, 8, 1000) if size == "full" else (5, 2, 40)
    with backends.use("triton") if device == "cpu" else contextlib.nullcontext():
        report["triton_vs_reference"] = _check_triton(log, device, shape) if report["backends"][
            "triton"] == "available" else {"skipped": report["backends"]["triton"]}
    log(f"correctness checks took {time.perf_counter() - t0:.0f} s")
    for name in ("W1", "W3-fwd", "W3-train", "W5"):
        report["timing"][name] = _guarded(log, name, lambda name=name: _workload(log, name, card, size, repeats,
                                                                                 device))
        if device == "cuda":
            torch.cuda.empty_cache()
    report["timing"]["meta-spikeformer"] = _guarded(log, "meta-spikeformer",
                                                    lambda: _meta_step(log, card, size, repeats, device))
    report["spikingjelly_cuda_implementation"] = _sj_selected()
    log(f"SpikingJelly's LIF ran on: {report['spikingjelly_cuda_implementation']}")
    return report


def _guarded(log: Callable[[str], None], label: str, part: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Run one timed part; an exception (a peer's kernel failing to build, say) is logged and reported
    instead of ending the check, so one failure does not cost the rest of a short GPU session."""
    try:
        return part()
    except Exception as exc:
        log(f"{label}: ERROR {type(exc).__name__}: {exc}")
        return {"error": f"{type(exc).__name__}: {exc}"}


def _workload(log: Callable[[str], None], name: str, card: str, size: str, repeats: int, device: str
              ) -> dict[str, Any]:
    """Part 2 for one workload: spikes verified, then round-robin timing of neuro, SpikingJelly and torch."""
    from neuro.bench import WORKLOADS
    from neuro.bench.harness import spike_mismatches, stats, time_interleaved
    from neuro.bench.peers import available

    spec = WORKLOADS[name]
    impls = [i for i in ("neuro", "spikingjelly", "torch") if i in available() and i in spec.impls]
    sz = spec.sizes[size]
    cases = {i: spec.build(i, sz, torch.float32, device=device, **spec.kwargs) for i in impls}
    ref = cases["neuro"].spikes()
    mism = {i: list(spike_mismatches(ref, c.spikes())) for i, c in cases.items()}
    samples = time_interleaved({i: c.step for i, c in cases.items()}, repeats, 2, device=device)
    timing = {i: stats(s).__dict__ for i, s in samples.items()}
    ratio = timing["neuro"]["median"] / timing["spikingjelly"]["median"] if "spikingjelly" in timing else None
    line = ", ".join(f"{i} {t['median']:.2f} ms" for i, t in timing.items())
    log(f"{name} on {card}: {line}; spikes differing vs neuro: {mism}"
        + ("" if ratio is None else f"; neuro / SpikingJelly = {ratio:.3f}"))
    return {"mismatch_float32": mism, "time_ms": timing, "neuro_over_spikingjelly": ratio}


def _meta_step(log: Callable[[str], None], card: str, size: str, repeats: int, device: str) -> dict[str, Any]:
    """Part 3: the Meta-SpikeFormer training step, neuro against the SpikingJelly-built model."""
    from neuro.bench.harness import spike_mismatches, stats, time_interleaved
    from neuro.bench.meta import SIZES, meta_step, neuron_mismatches
    from neuro.bench.peers import available

    if "spikingjelly" not in available():
        log("meta-spikeformer: SpikingJelly is not installed, skipped")
        return {"skipped": "spikingjelly not installed"}
    sz = SIZES[size]
    cases = {i: meta_step(i, sz, torch.float32, device=device) for i in ("neuro", "spikingjelly")}
    ref = cases["neuro"].spikes()
    mism = {i: list(spike_mismatches(ref, c.spikes())) for i, c in cases.items()}
    per_neuron = list(neuron_mismatches(sz, torch.float32, device=device))
    peak = {}
    for i, c in cases.items():  # one step each (also the warm-up), peak memory of that step
        if device == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            base = torch.cuda.memory_allocated()
        c.step()
        if device == "cuda":
            torch.cuda.synchronize()
            peak[i] = (torch.cuda.max_memory_allocated() - base) / 2**20
    samples = time_interleaved({i: c.step for i, c in cases.items()}, repeats, 1, device=device)
    timing = {i: stats(s).__dict__ for i, s in samples.items()}
    ratio = timing["neuro"]["median"] / timing["spikingjelly"]["median"]
    log(f"Meta-SpikeFormer training step ({sz}) on {card}: "
        + ", ".join(f"{i} {t['median']:.1f} ms" + (f" (peak {peak[i]:.0f} MiB)" if i in peak else "")
                    for i, t in timing.items())
        + f"; spikes differing vs neuro, whole network: {mism}, each neuron on the same input: {per_neuron}"
        + f"; neuro / SpikingJelly = {ratio:.3f}")
    return {"size": {k: str(v) for k, v in sz.items()}, "mismatch_float32": mism,
            "mismatch_per_neuron_float32": per_neuron, "time_ms": timing, "peak_step_mib": peak,
            "neuro_over_spikingjelly": ratio}


def _sj_selected() -> str:
    """Which implementation SpikingJelly's LIF chose on the GPU (its native CUDA, Triton or torch)."""
    try:
        from spikingjelly._ops.lif import _selection

        chosen = getattr(_selection, "_selections", {})
        return ", ".join(f"cuda:{k} {getattr(v, 'name', v)}" for k, v in chosen.items()) or "none selected"
    except Exception as exc:  # an internal of SpikingJelly: report, never fail the check on it
        return f"unknown ({type(exc).__name__}: {exc})"
