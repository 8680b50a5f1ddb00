"""Host time of one neuron call on the Triton path, with the kernels replaced by no-ops: everything neuro does
around a launch (backend choice, kernel spec, constants, layouts, autograd), on any machine (CPU tensors under
Triton's interpreter, ``TRITON_INTERPRET=1``, set here). A ``1 x 1`` input, so the work itself is nil; best of 5
runs of ``--calls`` calls. On a GPU, ``experiments/gpu_tuning.py`` measures the same with the real launches.

Usage: ``PYTHONPATH=. python experiments/host_overhead.py [--calls 5000]``
"""

from __future__ import annotations

import argparse
import os
import timeit

os.environ["TRITON_INTERPRET"] = "1"  # before triton is imported: the backend then takes CPU tensors

import torch

from neuro import LIF, backends
from neuro.backends import _triton_lif as tk


class _NoLaunch:
    """``kernel[grid](...)`` that does nothing."""

    def __getitem__(self, grid: object):
        return lambda *args, **kwargs: None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=5000)
    args = parser.parse_args()
    tk.lif_forward = tk.lif_backward = _NoLaunch()
    lif = LIF(tau_mem=2e-3, dt=1e-3, decay_input=False, reset="hard", detach_reset=True, surrogate="atan")
    x = torch.rand(1, 1)
    xg = x.clone().requires_grad_()
    n = args.calls

    def per_call_us(fn, calls: int) -> float:
        fn()
        return min(timeit.repeat(fn, number=calls, repeat=5)) / calls * 1e6

    with backends.use("triton", strict=True):
        with torch.no_grad():
            print(f"forward, no autograd      {per_call_us(lambda: lif(x), n):7.1f} us")
        print(f"forward, with autograd    {per_call_us(lambda: lif(xg), n):7.1f} us")
        print(f"forward + backward        {per_call_us(lambda: lif(xg)[0].sum().backward(), n // 5):7.1f} us")


if __name__ == "__main__":
    main()
