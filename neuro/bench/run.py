"""Run benchmark workloads: verify identical spikes, time round-robin, measure memory, report.

:func:`run` returns (and :func:`markdown` formats) a JSON-able report: the machine, library
versions, and per workload every implementation's median/min/max time, its spike mismatches
against neuro (float64 run, and float32 run), and neuro's ratio to the fastest available peer
against the goal.
"""

from __future__ import annotations

import gc
import os
import platform
import sys
from collections.abc import Callable
from typing import Any

import torch

from neuro.backends import tuning
from neuro.backends._parallel import executor
from neuro.bench import WORKLOADS
from neuro.bench.harness import paired_ratios, profile_ops, spike_mismatches, stats, time_interleaved
from neuro.bench.memory import measure
from neuro.bench.peers import available, versions

__all__ = ["DEFAULT_ORDER", "machine", "markdown", "run"]

DEFAULT_ORDER = ("W1", "W2", "W3-fwd", "W3-train", "W4", "W5", "W1-mem", "data")
_NAMES = {"neuro": "neuro", "snntorch": "snnTorch", "spikingjelly": "SpikingJelly", "norse": "Norse",
          "torch": "plain torch"}


def machine() -> dict[str, Any]:
    """CPU model, cores, torch threads, OS and library versions."""
    info = {"cpu": tuning.cpu_model(), "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "platform": platform.platform(), "python": platform.python_version(), "versions": versions(),
            "thp_mem_alloc": os.environ.get("THP_MEM_ALLOC_ENABLE") == "1", "load_average": os.getloadavg(),
            "kernel_threads": executor()}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    tuned = tuning.load()
    info["tuning"] = None if tuned is None else {"path": str(tuning.default_path()), "measured": tuned.get("measured")}
    return info


def _verify(name: str, size: dict[str, int], impls: list[str], dtype: torch.dtype) -> dict[str, list[int]]:
    spec = WORKLOADS[name]
    ref = None
    out: dict[str, list[int]] = {}
    for impl in ["neuro", *[i for i in impls if i != "neuro"]]:
        spikes = spec.build(impl, size, dtype, **spec.kwargs).spikes()
        if ref is None:
            ref = spikes
        out[impl] = list(spike_mismatches(ref, spikes))
        del spikes
        gc.collect()
    return out


def _timed(name: str, size: dict[str, int], impls: list[str], repeats: int, warmup: int) -> dict[str, Any]:
    spec = WORKLOADS[name]
    cases = {impl: spec.build(impl, size, torch.float32, **spec.kwargs) for impl in impls}
    samples = time_interleaved({impl: case.step for impl, case in cases.items()}, repeats, warmup)
    del cases
    gc.collect()
    return {impl: stats(s).__dict__ for impl, s in samples.items()}


def _ratio(values: dict[str, float], peers: tuple[str, ...]) -> tuple[str | None, float | None]:
    present = {p: values[p] for p in peers if p in values}
    if "neuro" not in values or not present:
        return None, None
    best = min(present, key=present.get)
    return best, values["neuro"] / present[best]


def _profiled(name: str, size: dict[str, int], impls: list[str], log: Callable[[str], None]
              ) -> dict[str, list[dict[str, Any]]]:
    """Where the time of each of ``impls`` goes (torch profiler, float32), logged and returned."""
    spec = WORKLOADS[name]
    out = {}
    for impl in impls:
        ops = profile_ops(spec.build(impl, size, torch.float32, **spec.kwargs).step)
        gc.collect()
        log(f"  profile of {impl} (self time per step): "
            + ", ".join(f"{op.name} {op.ms:.1f} ms ({op.share:.0%})" for op in ops))
        out[impl] = [op._asdict() for op in ops]
    return out


def _workload(name: str, size_name: str, repeats: int, warmup: int, log: Callable[[str], None],
              brian2: str | None = None, profile: bool = False) -> dict[str, Any]:
    spec = WORKLOADS[name]
    size = spec.sizes[size_name]
    impls = [i for i in spec.impls if i in available()]
    log(f"{name}: {spec.title} [{size_name}] on {', '.join(impls)}")
    mism64 = _verify(name, size, impls, torch.float64)
    mism32 = _verify(name, size, impls, torch.float32)
    for impl in impls:
        d, n = mism64[impl]
        log(f"  spikes vs neuro: {impl:13s} float64 {d}/{n} differ, float32 {mism32[impl][0]}/{n} differ")
    identical = all(mism64[i][0] == 0 for i in impls)
    timing = _timed(name, size, impls, repeats, warmup)
    medians = {impl: t["median"] for impl, t in timing.items()}
    best, ratio = _ratio(medians, spec.peers)
    for impl in impls:
        t = timing[impl]
        log(f"  {impl:13s} median {t['median']:9.1f} ms  (min {t['min']:.1f}, max {t['max']:.1f})")
    paired = None
    if ratio is not None:
        log(f"  neuro / fastest peer ({best}) = {ratio:.3f}  goal <= {spec.goal:.3f}: "
            f"{'met' if ratio <= spec.goal else 'MISSED'}")
        paired = paired_ratios(timing["neuro"]["samples"], timing[best]["samples"])
        log(f"  the same ratio round by round: median {paired.median:.3f} (min {paired.min:.3f}, max {paired.max:.3f})")
    result = {"title": spec.title, "size": size, "spikes_identical": identical, "mismatch_float64": mism64,
              "mismatch_float32": mism32, "time_ms": timing, "fastest_peer": best, "ratio": ratio, "goal": spec.goal,
              "met": None if ratio is None else ratio <= spec.goal,
              "paired_ratio": None if paired is None else paired.__dict__}
    if profile:
        result["profile"] = _profiled(name, size, ["neuro"] + ([best] if best else []), log)
    if name == "W4":
        result["brian2"] = _brian2(size, brian2, repeats, medians.get("neuro"), log)
    return result


def _brian2(size: dict[str, int], python: str | None, repeats: int, neuro_ms: float | None,
            log: Callable[[str], None]) -> dict[str, Any]:
    """W4 in Brian2 (its own environment), or why it was not run."""
    from neuro.bench.brian import brian2_w4

    if python is None:
        msg = "Brian2 not run: no Brian2 environment given (--brian2-python or NEURO_BRIAN2_PYTHON)"
        log(f"  {msg}")
        return {"skipped": msg}
    r = brian2_w4(size, python, repeats, neuro_ms)
    for name, m in r["modes"].items():
        if "error" in m:
            log(f"  brian2 {name}: failed, {m['error'].splitlines()[-1][:200]}")
            continue
        d, n = m["mismatch_float64"]
        log(f"  brian2 {m['version']} {name} ({m['codegen_target']}): spikes vs neuro float64 {d}/{n} differ; "
            f"median {m['median_ms']:.1f} ms (reservoir {m['reservoir_ms']:.1f} + projection "
            f"{m['projection_ms']:.1f}), {m['samples_per_s']:.1f} samples/s")
    if "speedup" in r:
        log(f"  neuro {r['neuro_samples_per_s']:.1f} samples/s = {r['speedup']:.1f}x Brian2's fastest mode "
            f"({r['mode']})  goal >= 100x: {'met' if r['speedup'] >= 100 else 'MISSED'}")
    return r


def _memory(size_name: str, log: Callable[[str], None]) -> dict[str, Any]:
    spec = WORKLOADS["W1"]
    size = {**spec.sizes[size_name], "T": 64 if size_name == "full" else spec.sizes[size_name]["T"]}
    log(f"W1-mem: peak training memory of W1 at T={size['T']} (fresh process per implementation; median step "
        f"time of 3 in the same process)")
    peak, step_ms = {}, {}
    for impl in [i for i in spec.impls if i in available()]:
        peak[impl], step_ms[impl] = measure("W1", impl, size)
        log(f"  {impl:13s} {_mib(peak[impl])}{_ms(step_ms[impl])}")
    rec, rec_ms = None, None
    if "neuro" in peak:
        rec, rec_ms = measure("W1", "neuro", {**size, "recompute": 1})
        log(f"  neuro, SpikingLinear(recompute=True): {_mib(rec)}{_ms(rec_ms)}")
    best, ratio = _ratio({k: v for k, v in peak.items() if v}, spec.peers)
    rec_ratio = None if ratio is None or not rec else rec / peak[best]
    result: dict[str, Any] = {"title": f"peak training memory, W1 at T={size['T']}", "size": size,
                              "peak_bytes": peak, "step_ms": step_ms, "lowest_peer": best, "ratio": ratio,
                              "recompute_bytes": rec, "recompute_step_ms": rec_ms, "recompute_ratio": rec_ratio,
                              "goal": 0.5}
    if ratio is None:
        return {**result, "met": None}
    log(f"  neuro / lowest peer ({best}) = {ratio:.3f}")
    if rec_ratio is not None:
        log(f"  neuro (recompute) / lowest peer ({best}) = {rec_ratio:.3f}")
    best_ratio = min(r for r in (ratio, rec_ratio) if r is not None)
    how = " (with recompute=True)" if ratio > 0.5 >= best_ratio else ""
    log(f"  goal <= 0.5: {'met' + how if best_ratio <= 0.5 else 'MISSED'}")
    return {**result, "met": best_ratio <= 0.5}


def _mib(n: int | None) -> str:
    return "failed" if n is None else f"{n / 2**20:.1f} MiB"


def _ms(ms: float | None) -> str:
    return "" if ms is None else f", step {ms:.0f} ms"


def _data(log: Callable[[str], None]) -> dict[str, Any]:
    from neuro.data.benchmark import nmnist_pipeline_benchmark

    try:
        result = nmnist_pipeline_benchmark()
    except Exception as exc:  # missing recordings etc.: report, do not abort the other results
        msg = f"data-pipeline benchmark failed: {type(exc).__name__}: {exc}"
        log(msg)
        return {"skipped": msg}
    log(f"data: N-MNIST files -> frames: neuro {result['neuro_samples_per_s']:.0f} samples/s, tonic "
        f"{result['tonic_samples_per_s']:.0f} samples/s, speed-up {result['speedup']:.2f}")
    return result


#: The layers ``crossover`` measures: label -> (class name, constructor sizes, input shape, input gradient).
_CROSSOVER_CASES: dict[str, tuple[str, tuple[int, ...], tuple[int, ...], bool]] = {
    "EventLinear 2312->512, 3200 rows": ("EventLinear", (2312, 512), (3200, 2312), False),
    "EventLinear 256->1024, 8192 rows": ("EventLinear", (256, 1024), (8192, 256), False),
    "EventConv2d 2->12 5x5, 512 x 34x34": ("EventConv2d", (2, 12, 5), (512, 2, 34, 34), False),
    "EventConv2d 12->32 5x5, 512 x 15x15, with input gradient": ("EventConv2d", (12, 32, 5), (512, 12, 15, 15), True),
}


def _break_even(rows: list[dict[str, Any]], key: str = "") -> float:
    """The highest measured density up to which the event-driven path was faster at every measured density (0.0
    when it was slower from the lowest on): the first crossing, so that a noisy win at a high density, after
    losses below it, does not count."""
    best = 0.0
    for row in sorted(rows, key=lambda r: r["density"]):
        if row[f"event{key}_ms"] >= row[f"dense{key}_ms"]:
            break
        best = row["density"]
    return best


def tuning_entries(crossover: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """The break-evens of a ``crossover`` result as :mod:`neuro.backends.tuning` entries."""
    entries: dict[str, list[dict[str, Any]]] = {"event_linear": [], "event_conv2d": []}
    for label, result in crossover.items():
        kind, sizes, _, _ = _CROSSOVER_CASES[label]
        both = result["event_faster_up_to"]
        if kind == "EventLinear":
            forward = max(both, result["event_forward_faster_up_to"])
            entries["event_linear"].append({"in_features": sizes[0], "out_features": sizes[1], "max_density": both,
                                            "max_forward_density": forward})
        else:
            entries["event_conv2d"].append({"in_channels": sizes[0], "out_channels": sizes[1],
                                            "kernel_size": sizes[2], "max_density": both})
    return entries


def _crossover(log: Callable[[str], None], repeats: int) -> dict[str, Any]:
    """Forward + weight gradient of the event-driven layers against oneDNN, by input density: EventLinear on W1's
    first layer and on W5's fc1 (also the forward pass alone, in inference), EventConv2d on W2's two
    convolutions (the second one also with its input gradient)."""
    from neuro.layers import EventConv2d, EventLinear

    cases = _CROSSOVER_CASES
    layers = {"EventLinear": EventLinear, "EventConv2d": EventConv2d}
    out: dict[str, Any] = {}
    for label, (kind, sizes, shape, input_grad) in cases.items():
        layer = layers[kind](*sizes)
        rows = []
        linear = isinstance(layer, EventLinear)
        log(f"crossover: {label}, forward + weight gradient{' (and forward alone)' if linear else ''}, event vs dense")
        gy = None
        for density in (0.01, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5):
            x = (torch.rand(shape) < density).float().requires_grad_(input_grad)
            if gy is None:
                with torch.no_grad():
                    gy = torch.randn_like(layer(x))

            def run(mode: str, x: torch.Tensor = x, layer: Any = layer, gy: torch.Tensor = gy) -> None:
                layer.mode = mode
                layer.zero_grad(set_to_none=True)
                x.grad = None
                layer(x).backward(gy)

            def forward(mode: str, x: torch.Tensor = x, layer: Any = layer) -> None:
                layer.mode = mode
                with torch.no_grad():
                    layer(x)

            fns = {"event": lambda run=run: run("event"), "dense": lambda run=run: run("dense")}
            if linear:
                fns.update(event_forward=lambda f=forward: f("event"), dense_forward=lambda f=forward: f("dense"))
            t = time_interleaved(fns, repeats, 1)
            med = {key: stats(v).median for key, v in t.items()}
            row = {"density": density, "event_ms": med["event"], "dense_ms": med["dense"]}
            msg = f"  density {density:4.2f}: event {med['event']:7.1f} ms, dense {med['dense']:7.1f} ms"
            if linear:
                row.update(event_forward_ms=med["event_forward"], dense_forward_ms=med["dense_forward"])
                msg += f"; forward alone: event {med['event_forward']:7.1f} ms, dense {med['dense_forward']:7.1f} ms"
            rows.append(row)
            log(msg)
        layer.mode = "auto"
        result: dict[str, Any] = {"rows": rows}
        for key, what in (("", "the event path"), ("_forward", "the forward gather alone")):
            if key and not linear:
                continue
            result[f"event{key}_faster_up_to"] = _break_even(rows, key)
            log(f"  {what} is faster up to density {result[f'event{key}_faster_up_to']}")
        out[label] = result
    return out


def run(names: list[str] | None = None, size: str = "full", repeats: int = 5, warmup: int = 1,
        log: Callable[[str], None] = print, brian2: str | None = None, profile: bool = False,
        save_tuning: bool = False) -> dict[str, Any]:
    """Run the named workloads (default :data:`DEFAULT_ORDER`) and return the report.

    ``save_tuning``: write the break-evens that ``crossover`` measured to the tuning file
    (:mod:`neuro.backends.tuning`), which layers built afterwards on this machine take as their defaults.

    ``brian2``: the interpreter of a Python environment with Brian2, which then also runs W4. ``profile``:
    also say where the time of neuro and of the fastest peer goes (:func:`~neuro.bench.harness.profile_ops`).
    """
    report: dict[str, Any] = {"machine": machine(), "size": size, "repeats": repeats, "results": {}}
    log(f"machine: {report['machine']['cpu']}, {report['machine']['cores']} cores, torch threads "
        f"{report['machine']['torch_threads']}; implementations: {', '.join(available())}")
    for name in names or list(DEFAULT_ORDER):
        if name == "W1-mem":
            report["results"][name] = _memory(size, log)
        elif name == "data":
            report["results"][name] = _data(log)
        elif name == "crossover":
            report["results"][name] = _crossover(log, repeats)
            if save_tuning:
                path = tuning.save(tuning_entries(report["results"][name]))
                report["tuning_saved"] = str(path)
                log(f"break-evens written to {path}: layers built from now on on this machine default to them")
        else:
            result = _workload(name, size, repeats, warmup, log, brian2, profile)
            report["results"][name] = result
    return report


def _verdict(ratio: float | None, goal: float) -> str:
    return "—" if ratio is None else f"{ratio:.2f} ({'met' if ratio <= goal else 'missed'})"


_KERNEL_THREADS = {"openmp": "neuro's kernels on torch's OpenMP threads; ",
                   "pool": "neuro's kernels on neuro's own thread pool (`NEURO_PARALLEL=pool`); "}


def markdown(report: dict[str, Any]) -> str:
    """The README table of a report."""
    cols = ["snntorch", "spikingjelly", "norse", "torch", "neuro"]
    lines = ["| workload | " + " | ".join(_NAMES[c] for c in cols) + " | neuro / fastest peer | goal |",
             "|---" * (len(cols) + 3) + "|"]
    for name, r in report["results"].items():
        if "time_ms" in r:
            cells = [f"{r['time_ms'][c]['median']:.0f} ms" if c in r["time_ms"] else "—" for c in cols]
        elif "peak_bytes" in r:
            cells = [f"{r['peak_bytes'][c] / 2**20:.0f} MiB" if r["peak_bytes"].get(c) else "—" for c in cols]
        else:
            continue
        verdict = _verdict(r.get("ratio"), r["goal"])
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {verdict} | ≤ {r['goal']:.2f} |")
        if r.get("recompute_bytes"):
            cells[-1] = f"{r['recompute_bytes'] / 2**20:.0f} MiB"
            lines.append(f"| {name}, neuro `recompute=True` | " + " | ".join(cells)
                         + f" | {_verdict(r.get('recompute_ratio'), r['goal'])} | ≤ {r['goal']:.2f} |")
    m = report["machine"]
    lines.append("")
    lines.append(f"Machine: {m['cpu']}, {m['cores']} cores ({m['torch_threads']} torch threads), {m['platform']}, "
                 f"load average at start {m['load_average'][0]:.1f}, huge pages for large tensors "
                 f"{'on' if m['thp_mem_alloc'] else 'off'}; medians of {report['repeats']} round-robin repeats; "
                 f"`neuro bench` (size {report['size']}); "
                 + _KERNEL_THREADS.get(m.get("kernel_threads"), "")  # absent from reports older than the choice
                 + "event-driven thresholds: "
                 + (f"this machine's, measured {m['tuning']['measured']} (`--save-tuning`)." if m.get("tuning")
                    else "the built-in defaults."))
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover
    run(sys.argv[1:] or None)
