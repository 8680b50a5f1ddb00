r"""Encoders: turn a static input ``(B, ...)`` into a time-major spike or current train ``(T, B, ...)``.

* :class:`DirectEncoder` repeats the (real-valued) input at every step; the first layer does the
  encoding, as in the spike-driven transformers.
* :class:`PoissonEncoder` emits a spike with probability ``gain * x`` per step (x clipped to [0, 1]).
* :class:`LatencyEncoder` emits one spike per element, earlier for larger values; elements below
  ``threshold`` never fire. ``mode="linear"`` puts value 1 at step 0 and ``threshold`` at step T-1;
  ``mode="log"`` uses the RC-charging time :math:`t = \tau \ln\frac{x}{x - \theta}`, in steps.

Encoders are stateless and take an optional ``torch.Generator`` for reproducible randomness.

Example:
    >>> import torch
    >>> PoissonEncoder(8)(torch.rand(2, 5)).shape
    torch.Size([8, 2, 5])
"""

from __future__ import annotations

from typing import ClassVar, Literal

import torch
from torch import Tensor, nn

__all__ = ["ENCODERS", "DirectEncoder", "LatencyEncoder", "PoissonEncoder"]


def _check_steps(cls: str, num_steps: int) -> int:
    if isinstance(num_steps, bool) or not isinstance(num_steps, int) or num_steps < 1:
        raise ValueError(f"{cls}: num_steps must be a positive integer, got {num_steps!r}")
    return num_steps


class DirectEncoder(nn.Module):
    """Repeat the input ``num_steps`` times along a new leading time axis (a view, no copy)."""

    is_sequence: ClassVar[bool] = True

    def __init__(self, num_steps: int) -> None:
        super().__init__()
        self.num_steps = _check_steps("DirectEncoder", num_steps)

    def forward(self, x: Tensor) -> Tensor:
        return x.unsqueeze(0).expand(self.num_steps, *x.shape)

    def extra_repr(self) -> str:
        return f"num_steps={self.num_steps}"


class PoissonEncoder(nn.Module):
    """Bernoulli/Poisson rate coding: P(spike at a step) = ``gain * clip(x, 0, 1)``."""

    is_sequence: ClassVar[bool] = True

    def __init__(self, num_steps: int, gain: float = 1.0, generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.num_steps = _check_steps("PoissonEncoder", num_steps)
        if not 0 < gain <= 1:
            raise ValueError(f"PoissonEncoder: gain must be in (0, 1], got {gain!r}")
        self.gain = float(gain)
        self.generator = generator

    def forward(self, x: Tensor) -> Tensor:
        p = (x.clamp(0.0, 1.0) * self.gain).unsqueeze(0).expand(self.num_steps, *x.shape)
        u = torch.rand(p.shape, generator=self.generator, device=x.device, dtype=x.dtype)
        return (u < p).to(x.dtype)

    def extra_repr(self) -> str:
        return f"num_steps={self.num_steps}, gain={self.gain:g}"


class LatencyEncoder(nn.Module):
    """Time-to-first-spike coding: one spike per element, earlier for larger values."""

    is_sequence: ClassVar[bool] = True

    def __init__(self, num_steps: int, threshold: float = 0.01, mode: Literal["linear", "log"] = "linear",
                 tau: float = 5.0) -> None:
        super().__init__()
        self.num_steps = _check_steps("LatencyEncoder", num_steps)
        if mode not in ("linear", "log"):
            raise ValueError(f"LatencyEncoder: mode must be 'linear' or 'log', got {mode!r}")
        if not 0 <= threshold < 1:
            raise ValueError(f"LatencyEncoder: threshold must be in [0, 1), got {threshold!r}")
        self.threshold, self.mode, self.tau = float(threshold), mode, float(tau)

    def spike_times(self, x: Tensor) -> Tensor:
        """Integer spike step of each element; ``num_steps`` (never) below the threshold."""
        x = x.clamp(0.0, 1.0)
        last = self.num_steps - 1
        if self.mode == "linear":
            t = (1.0 - x) / (1.0 - self.threshold) * last
        else:
            t = self.tau * torch.log(x / (x - self.threshold).clamp_min(1e-12))
        t = t.round().clamp(0, last)
        return torch.where(x >= max(self.threshold, 1e-12), t, torch.full_like(t, self.num_steps)).long()

    def forward(self, x: Tensor) -> Tensor:
        steps = torch.arange(self.num_steps, device=x.device).view(-1, *([1] * x.dim()))
        return (steps == self.spike_times(x).unsqueeze(0)).to(x.dtype)

    def extra_repr(self) -> str:
        return f"num_steps={self.num_steps}, threshold={self.threshold:g}, mode={self.mode!r}"


ENCODERS: dict[str, type[nn.Module]] = {
    "direct": DirectEncoder,
    "poisson": PoissonEncoder,
    "latency": LatencyEncoder,
}
