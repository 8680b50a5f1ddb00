"""W4 on Brian2, which runs in its own Python environment (Brian2 does not import with numpy >= 2.4).

:func:`brian2_python` finds that environment's interpreter (``--brian2-python`` of ``neuro bench`` or
the ``NEURO_BRIAN2_PYTHON`` variable); :func:`brian2_w4` hands it W4's inputs through a temporary
``.npz`` file, runs :mod:`neuro.bench.brian2_worker` there, and compares its spikes with neuro's.
Brian2 simulates the reservoir; the input projection, identical for every implementation, is the
same dense torch product the peers use, timed here and added to Brian2's time.

Brian2 runs in each of its fast modes: the runtime device with Cython code objects, and the ``cpp_standalone``
device (a generated, compiled C++ program; Brian2's recommendation for speed) single-threaded and, where torch
has several threads, with as many OpenMP threads. Each mode's spikes are checked against neuro's in float64; neuro
is compared with the fastest mode among those that reproduce them exactly (among all, should none). A mode that
fails (no C++ compiler for the standalone device) is reported with its error and the others still run.

Set up such an environment once (outside the project's)::

    python3 -m venv ~/brian2-venv && ~/brian2-venv/bin/pip install brian2 "numpy<2.4"
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from neuro.errors import NeuroError

__all__ = ["brian2_python", "brian2_w4", "modes"]

WORKER = Path(__file__).with_name("brian2_worker.py")


def brian2_python(explicit: str | None = None) -> str | None:
    """The interpreter of the Brian2 environment, or ``None`` when none is configured."""
    path = explicit or os.environ.get("NEURO_BRIAN2_PYTHON")
    if not path:
        return None
    if not Path(path).is_file():
        raise NeuroError(f"Brian2 interpreter {path!r} does not exist (--brian2-python / NEURO_BRIAN2_PYTHON); "
                         "create one with: python3 -m venv DIR && DIR/bin/pip install brian2 'numpy<2.4'")
    return path


def _worker(python: str, current: np.ndarray, w_rec: np.ndarray, dtype: str, repeats: int,
            timeout: float, device: str = "runtime", threads: int = 0) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="neuro-brian2-") as tmp:
        inputs, outputs = Path(tmp) / "in.npz", Path(tmp) / "out.npz"
        np.savez(inputs, current=current, w_rec=w_rec, decay=0.5, v_threshold=1.0)
        # -I: the worker's folder (neuro/bench) must not shadow packages of the Brian2 environment
        cmd = [python, "-I", str(WORKER), str(inputs), str(outputs), "--repeats", str(repeats), "--dtype", dtype,
               "--device", device, "--threads", str(threads), "--build-dir", str(Path(tmp) / "build")]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False, cwd=tmp)
        if proc.returncode != 0:
            raise NeuroError(f"Brian2 worker failed ({' '.join(cmd)}):\n{proc.stderr[-3000:]}")
        with np.load(outputs) as out:
            return {"spikes": out["spikes"], "seconds": out["seconds"].tolist(), "target": str(out["target"]),
                    "version": str(out["version"])}


def modes(threads: int) -> list[tuple[str, int]]:
    """Brian2's ``(device, OpenMP threads)`` to time: runtime (Cython), standalone single-threaded and, with
    ``threads`` > 1, standalone on that many OpenMP threads."""
    return [("runtime", 0), ("standalone", 0)] + ([("standalone", threads)] if threads > 1 else [])


def brian2_w4(size: dict[str, int], python: str, repeats: int, neuro_median_ms: float | None = None,
              timeout: float = 3600.0, devices: list[tuple[str, int]] | None = None) -> dict[str, Any]:
    """Brian2's W4 in each mode of ``devices`` (default :func:`modes` of torch's thread count): spike mismatches
    against neuro (float64), median time (float32), samples per second; the top-level figures are the fastest
    mode's."""
    from neuro.bench import WORKLOADS
    from neuro.bench.harness import spike_mismatches, stats
    from neuro.bench.lsm import lsm_weights

    x, w_in, w_rec = lsm_weights(size, 0)
    current = F.linear(x, w_in).numpy()  # (T, B, N) float64: the same input currents as every implementation
    ref = WORKLOADS["W4"].build("neuro", size, torch.float64).spikes()["reservoir"]
    x32, w32 = x.float(), w_in.float()
    projection = []
    for _ in range(repeats + 1):
        start = time.perf_counter()
        F.linear(x32, w32)
        projection.append(time.perf_counter() - start)
    proj_ms = stats(projection[1:]).median
    batch = size["B"]
    runs: dict[str, dict[str, Any]] = {}
    for device, threads in devices or modes(torch.get_num_threads()):
        name = device if device == "runtime" else f"standalone-{threads}t" if threads else "standalone"
        try:
            exact = _worker(python, current, w_rec.numpy(), "float64", 0, timeout, device, threads)
            timed = _worker(python, current.astype(np.float32), w_rec.numpy().astype(np.float32), "float32",
                            repeats, timeout, device, threads)
        except NeuroError as e:
            runs[name] = {"error": str(e)}
            continue
        differ, total = spike_mismatches({"reservoir": ref},
                                         {"reservoir": torch.from_numpy(exact["spikes"]).double()})
        total_ms = stats(timed["seconds"]).median + proj_ms
        runs[name] = {"version": timed["version"], "codegen_target": timed["target"],
                      "mismatch_float64": [differ, total], "reservoir_ms": total_ms - proj_ms,
                      "projection_ms": proj_ms, "median_ms": total_ms, "samples_per_s": batch / (total_ms / 1e3)}
    ran = {k: r for k, r in runs.items() if "error" not in r}
    if not ran:
        raise NeuroError("Brian2 ran in none of its modes: " + "; ".join(f"{k}: {r['error']}"
                                                                           for k, r in runs.items()))
    exact_modes = {k: r for k, r in ran.items() if r["mismatch_float64"][0] == 0}
    eligible = exact_modes or ran  # the fastest of the modes that simulate exactly neuro's reservoir, where any does
    fastest = max(eligible, key=lambda k: eligible[k]["samples_per_s"])
    result = {**ran[fastest], "mode": fastest, "modes": runs}
    if neuro_median_ms:
        result["neuro_samples_per_s"] = batch / (neuro_median_ms / 1e3)
        result["speedup"] = result["neuro_samples_per_s"] / result["samples_per_s"]
    return result
