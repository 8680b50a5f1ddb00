"""Run a neuron module on two backends with identical inputs and compare values and gradients."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from neuro import backends


def tolerances(dtype: torch.dtype) -> dict[str, float]:
    """Gradient tolerances: float64 must agree to rounding, float32 to its accumulated rounding."""
    return {"rtol": 1e-9, "atol": 1e-9} if dtype == torch.float64 else {"rtol": 2e-4, "atol": 2e-4}


def run(module: nn.Module, x: Tensor, backend: str, *, seed: int = 0, perturb: float = 0.2,
        strict: bool = True) -> tuple[Tensor, tuple[Tensor, ...], tuple[Tensor | None, ...]]:
    """Output, final state and gradients of a random linear loss (same for every backend)."""
    gen = torch.Generator().manual_seed(seed)
    x = x.detach().clone().requires_grad_()
    state = module.initial_state(x[0].detach())
    noise = [torch.randn(f.shape, generator=gen, dtype=x.dtype) for f in state]
    state = type(state)(*(f + perturb * n for f, n in zip(state, noise, strict=True)))
    state = type(state)(*(f.detach().requires_grad_() for f in state))
    with backends.use(backend, strict=strict):
        out, final = module(x, state)
    w = torch.randn(out.shape, generator=gen, dtype=x.dtype)
    loss = (out * w).sum() + sum((f * (0.3 * (k + 1))).sum() for k, f in enumerate(final))
    params = [p for p in module.parameters() if p.requires_grad]
    grads = torch.autograd.grad(loss, [x, *state, *params], allow_unused=True)
    return out.detach(), tuple(f.detach() for f in final), grads


def assert_same(module: nn.Module, x: Tensor, backend: str, **kw: Any) -> None:
    """Spikes bit-identical, final state and every gradient equal within the dtype's tolerance."""
    ref = run(module, x, "reference", **kw)
    got = run(module, x, backend, **kw)
    torch.testing.assert_close(got[0], ref[0], rtol=0, atol=0)
    tol = tolerances(x.dtype)
    for a, b in zip(got[1], ref[1], strict=True):
        torch.testing.assert_close(a, b, **tol)
    for k, (a, b) in enumerate(zip(got[2], ref[2], strict=True)):
        if b is None:
            assert a is None or not a.abs().any(), f"gradient {k}: reference has none"
            continue
        torch.testing.assert_close(a, b, **tol, msg=lambda m, k=k: f"gradient {k}: {m}")
