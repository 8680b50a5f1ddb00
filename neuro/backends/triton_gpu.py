"""The ``triton`` backend: fused LIF-family and adaptive LIF kernels for CUDA GPUs, written in Triton.

Operations ``lif``, ``plif``, ``if``, ``cuba_lif`` and ``alif`` (every reset rule, the delayed
snnTorch timing of the LIF family, ``detach_reset``, ``decay_input``, learnable
``tau``/threshold/``v_leak``/``r`` scalars, every built-in surrogate) for float32/float64 CUDA
tensors, and float16/bfloat16 ones computed in float32; anything else (per-neuron parameter
tensors, custom surrogates or resets) falls back to another backend. The forward keeps what the
backward needs when a gradient is wanted (see :mod:`neuro.backends._triton_lif` and
:mod:`neuro.backends._triton_alif`).

For testing without a GPU, Triton's interpreter runs the same kernels on CPU tensors: with
``TRITON_INTERPRET=1`` set before ``triton`` is imported, the backend also accepts CPU inputs, but
only when it is selected explicitly (``backends.use("triton")``), never by the automatic choice.

Example:
    >>> from neuro import backends
    >>> "triton" in backends.BACKEND_MODULES  # backends.available() says whether it runs here
    True
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any, NamedTuple

import torch
from torch import Tensor

from neuro.backends import Impl, current
from neuro.backends._spec import (
    HALF,
    KernelSpec,
    Unsupported,
    alif_spec,
    check_tensors,
    compute_dtype,
    cuba_spec,
    if_spec,
    lif_spec,
    spec_for,
)

__all__ = ["OPS", "availability", "interpreting", "why_not"]


def interpreting() -> bool:
    """Whether Triton's CPU interpreter is switched on (``TRITON_INTERPRET=1``)."""
    return os.environ.get("TRITON_INTERPRET", "0") == "1"


def availability() -> str | None:
    """``None`` when Triton is importable and a CUDA device (or the interpreter) is there."""
    if not torch.cuda.is_available() and not interpreting():
        return "no CUDA device (set TRITON_INTERPRET=1 to run the kernels on CPU for testing)"
    try:
        import triton  # noqa: F401
    except Exception as exc:  # missing or broken: the backend is unavailable, neuro is not
        return f"triton is not usable ({type(exc).__name__}: {exc}); pip install 'neuro[gpu]'"
    return None


@functools.cache
def _specs() -> dict[Callable[..., Any], Callable[[Any, torch.dtype], KernelSpec]]:
    from neuro.neurons.alif import alif_step
    from neuro.neurons.cuba_lif import cuba_lif_step
    from neuro.neurons.if_ import if_step
    from neuro.neurons.lif import lif_step

    return {lif_step: lif_spec, if_step: if_spec, cuba_lif_step: cuba_spec, alif_step: alif_spec}


def _spec_of(step: Callable[..., Any]) -> Callable[[Any, torch.dtype], KernelSpec] | None:
    return _specs().get(step)


def why_not(step: Callable[..., Any], x: Tensor, state: NamedTuple, params: NamedTuple) -> str | None:
    """Why the Triton kernels decline these inputs (``None``: they take them)."""
    make = _spec_of(step)
    if make is None:
        return f"no Triton kernel for step function {getattr(step, '__name__', step)!r}"
    device = "cuda"
    if x.device.type == "cpu" and interpreting():
        if current() != "triton":
            return "CPU inputs run on the Triton interpreter only when the triton backend is selected explicitly"
        device = "cpu"
    try:
        check_tensors(x, state, device, (torch.float32, torch.float64, *HALF))
        spec_for(make, params, compute_dtype(x.dtype))
    except Unsupported as exc:
        return str(exc)
    return None


def run(step: Callable[..., Any], x: Tensor, state: NamedTuple, params: NamedTuple, record: bool = False
        ) -> tuple[Tensor, NamedTuple, NamedTuple | None]:
    """The backend operation of every neuron above (dispatch on ``step``)."""
    spec = spec_for(_spec_of(step), params, compute_dtype(x.dtype))
    if spec_kind(step) == "alif":
        from neuro.backends._triton_alif import run_alif

        return run_alif(spec, x, state, record)
    from neuro.backends._triton_glue import run_lif_family

    return run_lif_family(spec, x, state, record)


def spec_kind(step: Callable[..., Any]) -> str:
    """``"alif"`` for the adaptive LIF step, ``"lif"`` for the LIF family."""
    return "alif" if _spec_of(step) is alif_spec else "lif"


_NEURON = Impl(run, lambda *args: why_not(*args) is None)

#: Operation name -> implementation.
OPS: dict[str, Impl] = {"lif": _NEURON, "plif": _NEURON, "if": _NEURON, "cuba_lif": _NEURON, "alif": _NEURON}
