"""GPU-only diagnostics behind the README's GPU paragraph (needs CUDA; ~1 minute on an H200).

1. Host-device synchronisations in one neuro Meta-SpikeFormer training step (``torch.cuda.set_sync_debug_mode``).
2. Where the GPU time of that step goes, neuro against the SpikingJelly-built model (torch profiler, CUDA time).
3. The Triton LIF kernels' own GPU time (profiler), with and without fused multiply-adds (``FP_FUSION``), on
   a W3 and a Meta-SpikeFormer-like shape, beside the card's copy bandwidth (``clone`` of the same input).
4. Host time per neuron call, neuro against SpikingJelly, and W3's forward timed with and without waiting.
5. ``--sweep``: the Triton LIF kernels' (BLOCK, warps) pairs on the same shapes.

Usage: ``PYTHONPATH=. python experiments/gpu_tuning.py [--sweep]``
"""

from __future__ import annotations

import argparse
import traceback
import warnings

import torch
from torch.profiler import ProfilerActivity, profile

from neuro import backends
from neuro.backends import _triton_lif as tk
from neuro.bench.meta import SIZES, meta_step
from neuro.layers.neuron_setting import NeuronSetting


def syncs() -> None:
    case = meta_step("neuro", {**SIZES["full"], "B": 2}, device="cuda")
    case.step()
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("warn")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        case.step()
    torch.cuda.set_sync_debug_mode(0)
    print("synchronising calls in one neuro step:", sum("synchroniz" in str(w.message) for w in caught))


def gpu_time() -> None:
    for impl in ("neuro", "spikingjelly"):
        case = meta_step(impl, SIZES["full"], device="cuda")
        case.step()
        with profile(activities=[ProfilerActivity.CUDA]) as prof:
            case.step()
            torch.cuda.synchronize()
        events = prof.key_averages()
        total = sum(e.self_device_time_total for e in events) / 1e3
        print(f"--- {impl}: GPU time {total:.1f} ms per step")
        for e in sorted(events, key=lambda e: -e.self_device_time_total)[:8]:
            print(f"{e.self_device_time_total / 1e3:8.2f} ms {e.count:5d}x {e.key[:90]}")
        del case
        torch.cuda.empty_cache()


def _median_ms(fn, reps: int = 15) -> float:
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    out = []
    for _ in range(5):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        for _ in range(reps):
            fn()
        b.record()
        torch.cuda.synchronize()
        out.append(a.elapsed_time(b) / reps)
    return sorted(out)[2]


def _data() -> dict[str, torch.Tensor]:
    g = torch.Generator(device="cuda").manual_seed(0)
    shapes = {"T64xN1M": (64, 1 << 20), "T4xN6.4M": (4, 16 * 32 * 112 * 112), "T4xN1.1M": (4, 16 * 360 * 196)}
    return {k: torch.rand(s, generator=g, device="cuda") * 1.2 + 0.3 for k, s in shapes.items()}


def _fwd_train_ms(lif: torch.nn.Module, x: torch.Tensor) -> tuple[float, float]:
    with torch.no_grad():
        fwd = _median_ms(lambda: lif(x))
    xg, grad = x.clone().requires_grad_(), torch.rand_like(x) - 0.5
    return fwd, _median_ms(lambda: lif(xg)[0].backward(grad))


def kernels() -> None:
    """GPU time per call of the forward and backward kernels alone (torch profiler: no host time), with and
    without fused multiply-adds (``FP_FUSION``), each setting twice in alternating order to show the spread.
    For scale: here the forward moves 3 passes over a (T, N) float32 tensor (x in; spikes and the membrane
    kept for the backward out), the backward 3 (membrane and output gradient in, input gradient out), and
    ``clone`` 2."""
    lif = NeuronSetting().lif().cuda()
    saved = tk.FP_FUSION
    with backends.use("triton", strict=True):
        for k, x in list(_data().items())[:2]:
            gb = x.numel() * x.element_size() / 1e9
            copy = _median_ms(lambda x=x: x.clone())
            print(f"{k}: clone {copy:.3f} ms ({2 * gb / copy * 1e3:.0f} GB/s)")
            xg, grad = x.clone().requires_grad_(), torch.rand_like(x) - 0.5
            for fusion in (False, True) * 2:
                tk.FP_FUSION = fusion
                for _ in range(3):
                    lif(xg)[0].backward(grad)
                torch.cuda.synchronize()
                with profile(activities=[ProfilerActivity.CUDA]) as prof:
                    for _ in range(10):
                        lif(xg)[0].backward(grad)
                    torch.cuda.synchronize()
                ms = {e.key: e.self_device_time_total / e.count / 1e3 for e in prof.key_averages()
                      if e.key in ("lif_forward", "lif_backward")}
                print(f"  FP_FUSION={fusion}: forward kernel {ms['lif_forward']:.3f} ms "
                      f"({3 * gb / ms['lif_forward'] * 1e3:.0f} GB/s), backward kernel {ms['lif_backward']:.3f} ms "
                      f"({3 * gb / ms['lif_backward'] * 1e3:.0f} GB/s)")
    tk.FP_FUSION = saved


def host() -> None:
    """Host time of one neuron call (a 1x1 input, so the GPU work is nil: calls queued back to back without
    waiting), neuro against SpikingJelly; then W3's forward timed as the bench times it (one call, wait) and
    back to back (CUDA events), which leaves out the host time that overlaps the GPU's work."""
    import time

    from neuro.bench.peers import neuron

    for impl in ("neuro", "spikingjelly"):
        fn = neuron(impl)
        for grad in (False, True):
            x = torch.rand(1, 1, device="cuda", requires_grad=grad)
            with torch.set_grad_enabled(grad):
                for _ in range(200):
                    fn(x)
                torch.cuda.synchronize()
                t0 = time.perf_counter()
                for _ in range(1000):
                    fn(x)
                host_us = (time.perf_counter() - t0) * 1e3
            torch.cuda.synchronize()
            print(f"{impl} host time per call ({'with' if grad else 'no'} grad): {host_us:.1f} us")
        x = torch.rand(64, 1 << 20, device="cuda") * 1.2
        with torch.no_grad():
            waits = []
            for _ in range(20):
                torch.cuda.synchronize()
                t0 = time.perf_counter()
                fn(x)
                torch.cuda.synchronize()
                waits.append((time.perf_counter() - t0) * 1e3)
            print(f"{impl} W3 forward: one call then wait {sorted(waits)[10]:.3f} ms, back to back "
                  f"{_median_ms(lambda fn=fn, x=x: fn(x)):.3f} ms")


def sweep() -> None:
    lif = NeuronSetting().lif().cuda()
    data = _data()
    saved = tk.BLOCK, tk.NUM_WARPS
    rows = {}
    with backends.use("triton", strict=True):
        for block, warps in [(256, 4), (256, 2), (128, 4), (512, 4), (512, 8), (1024, 4), (1024, 8), (2048, 8)]:
            tk.BLOCK, tk.NUM_WARPS = block, warps
            row = {}
            for k, x in data.items():
                row[k + " fwd"], row[k + " train"] = _fwd_train_ms(lif, x)
            rows[(block, warps)] = row
            print(f"BLOCK {block} warps {warps}: " + ", ".join(f"{k} {v:.3f} ms" for k, v in row.items()))
    tk.BLOCK, tk.NUM_WARPS = saved
    base = rows[(256, 4)]
    print("mean time relative to 256/4:", {f"{b}/{w}": round(sum(r[k] / base[k] for k in r) / len(r), 3)
                                            for (b, w), r in rows.items()})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sweep", action="store_true", help="also sweep the Triton kernels' block sizes")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("gpu_tuning.py needs a CUDA GPU")
    for part in (kernels, host, syncs, gpu_time, *((sweep,) if args.sweep else ())):
        try:  # one part failing does not cost the others a GPU session
            part()
        except Exception:
            traceback.print_exc()


if __name__ == "__main__":
    main()
