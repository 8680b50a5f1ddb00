"""``neuro bench --gpu-check``: the few-minute check to run when a CUDA GPU is available.

1. The Triton backend against the reference on the GPU: every LIF-family option set, float32 and
   float64, spikes bit-identical and every gradient close (same checks as the CPU tests).
2. W1, W3 (forward, forward + backward) and W5 on the GPU: neuro (automatic backend: Triton for the
   neurons) against SpikingJelly (its own CUDA/Triton backends, chosen automatically) and plain
   torch, spikes verified first, medians of round-robin repeats with CUDA synchronisation.

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
    from neuro import IF, LIF, PLIF, CubaLIF
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
              ("IF subtract", lambda: IF(v_threshold=1.2, r=0.7, reset="subtract"))]
    for sg in ("sigmoid", "fast_sigmoid", "triangle", "rectangular", "erf"):
        cases.append((f"LIF surrogate={sg}", lambda sg=sg: LIF(tau_mem=3e-3, surrogate=sg, learn_threshold=True)))
    return cases


def _check_triton(log: Callable[[str], None], device: str, shape: tuple[int, ...]) -> dict[str, str]:
    from neuro import backends

    results = {}
    for dtype in (torch.float32, torch.float64):
        tol = {"rtol": 1e-9, "atol": 1e-9} if dtype == torch.float64 else {"rtol": 2e-4, "atol": 2e-4}
        for name, make in _modules():
            module = make().to(device, dtype)
            g = torch.Generator(device=device).manual_seed(0)
            x = torch.randn(shape, generator=g, device=device, dtype=dtype) * 1.5 + 0.8
            outs = {}
            for backend in ("reference", "triton"):
                xx = x.clone().requires_grad_()
                with backends.use(backend, strict=backend == "triton"):
                    out, state = module(xx)
                w = torch.linspace(-1, 1, out.numel(), device=device, dtype=dtype).view_as(out)
                loss = (out * w).sum() + sum(f.sum() * 0.3 for f in state)
                params = [p for p in module.parameters() if p.requires_grad]
                outs[backend] = (out.detach(), torch.autograd.grad(loss, [xx, *params]))
            (o_ref, g_ref), (o_tri, g_tri) = outs["reference"], outs["triton"]
            ok = torch.equal(o_ref, o_tri) and all(torch.allclose(a, b, **tol) for a, b in zip(g_ref, g_tri,
                                                                                                  strict=True))
            key = f"{name} {str(dtype).replace('torch.', '')}"
            results[key] = "pass" if ok else "FAIL"
            log(f"  {'pass' if ok else 'FAIL'}  {key}")
    return results


def gpu_check(size: str = "full", repeats: int = 10, log: Callable[[str], None] = print,
              device: str = "cuda") -> dict[str, Any]:
    """Run both parts (see the module docstring) and return the report.

    ``device="cpu"`` is a dry run of the same code for tests (Triton's interpreter must be on).
    """
    from neuro import backends
    from neuro.bench import WORKLOADS
    from neuro.bench.harness import spike_mismatches, stats, time_interleaved
    from neuro.bench.peers import available, versions

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
        spec = WORKLOADS[name]
        impls = [i for i in ("neuro", "spikingjelly", "torch") if i in available() and i in spec.impls]
        sz = spec.sizes[size]
        cases = {i: spec.build(i, sz, torch.float32, device=device, **spec.kwargs) for i in impls}
        ref = cases["neuro"].spikes()
        mism = {i: list(spike_mismatches(ref, c.spikes())) for i, c in cases.items()}
        samples = time_interleaved({i: c.step for i, c in cases.items()}, repeats, 2, device=device)
        timing = {i: stats(s).__dict__ for i, s in samples.items()}
        ratio = timing["neuro"]["median"] / timing["spikingjelly"]["median"] if "spikingjelly" in timing else None
        report["timing"][name] = {"mismatch_float32": mism, "time_ms": timing, "neuro_over_spikingjelly": ratio}
        line = ", ".join(f"{i} {t['median']:.2f} ms" for i, t in timing.items())
        log(f"{name} on {card}: {line}; spikes differing vs neuro: {mism}"
            + ("" if ratio is None else f"; neuro / SpikingJelly = {ratio:.3f}"))
        del cases
        if device == "cuda":
            torch.cuda.empty_cache()
    return report
