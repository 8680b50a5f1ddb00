r"""Losses on time-major network outputs ``out`` of shape ``(T, B, C)`` and integer targets ``(B,)``.

=================  ==============================================================================
name               loss
=================  ==============================================================================
``ce_count``       cross-entropy on spike counts :math:`\sum_t o_t` used as logits
``ce_mean``        cross-entropy on the time average :math:`\frac1T\sum_t o_t` (membrane readouts,
                   the spike-driven transformers' head)
``ce_max``         cross-entropy on :math:`\max_t o_t` (max-membrane readout)
``mse_count``      MSE between spike counts and target counts: ``correct_rate * T`` for the true
                   class, ``incorrect_rate * T`` for the others (snnTorch's ``mse_count_loss``)
``tet``            temporal efficient training (Deng et al. 2022):
                   :math:`(1-\lambda)\frac1T\sum_t \mathrm{CE}(o_t, y) + \lambda\,\mathrm{MSE}(o, \phi)`
=================  ==============================================================================

Cross-entropy losses accept ``label_smoothing``. :func:`build_loss` makes one from a name and
options, as experiment TOML files do.

Example:
    >>> import torch
    >>> out = torch.tensor([[[1.0, 0.0]], [[1.0, 0.0]]])   # T=2, B=1, C=2
    >>> round(ce_count(out, torch.tensor([0])).item(), 4)
    0.1269
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from neuro.errors import ConfigError, ShapeError, unknown_name

__all__ = ["LOSSES", "build_loss", "ce_count", "ce_max", "ce_mean", "mse_count", "predict", "tet"]

Loss = Callable[[Tensor, Tensor], Tensor]


def _check(out: Tensor, target: Tensor) -> None:
    if out.dim() != 3:
        raise ShapeError(f"loss: expected outputs of shape (T, B, C), got {tuple(out.shape)}")
    if target.shape != out.shape[1:2]:
        raise ShapeError(f"loss: targets of shape {tuple(target.shape)} do not match batch {out.shape[1]}")


def ce_count(out: Tensor, target: Tensor, label_smoothing: float = 0.0) -> Tensor:
    """Cross-entropy with spike counts as logits."""
    _check(out, target)
    return F.cross_entropy(out.sum(0), target, label_smoothing=label_smoothing)


def ce_mean(out: Tensor, target: Tensor, label_smoothing: float = 0.0) -> Tensor:
    """Cross-entropy on the output averaged over time."""
    _check(out, target)
    return F.cross_entropy(out.mean(0), target, label_smoothing=label_smoothing)


def ce_max(out: Tensor, target: Tensor, label_smoothing: float = 0.0) -> Tensor:
    """Cross-entropy on the maximum over time (max-membrane readout)."""
    _check(out, target)
    return F.cross_entropy(out.amax(0), target, label_smoothing=label_smoothing)


def mse_count(out: Tensor, target: Tensor, correct_rate: float = 0.8, incorrect_rate: float = 0.2) -> Tensor:
    """MSE between spike counts and target counts (rates times T)."""
    _check(out, target)
    steps = out.shape[0]
    wanted = torch.full_like(out[0], incorrect_rate * steps)
    wanted.scatter_(1, target.unsqueeze(1), correct_rate * steps)
    return F.mse_loss(out.sum(0), wanted)


def tet(out: Tensor, target: Tensor, lamb: float = 1e-3, means: float = 1.0, label_smoothing: float = 0.0) -> Tensor:
    """Temporal efficient training loss (per-step cross-entropy plus a MSE regulariser towards ``means``)."""
    _check(out, target)
    steps = out.shape[0]
    per_step = F.cross_entropy(out.flatten(0, 1), target.repeat(steps), label_smoothing=label_smoothing)
    reg = F.mse_loss(out, torch.full_like(out, means)) if lamb else out.new_zeros(())
    return (1.0 - lamb) * per_step + lamb * reg


def predict(out: Tensor) -> Tensor:
    """Predicted class per sample: arg-max of the summed output over time."""
    return out.sum(0).argmax(-1)


#: Registry of losses by name.
LOSSES: dict[str, Callable[..., Tensor]] = {
    "ce_count": ce_count,
    "ce_mean": ce_mean,
    "ce_max": ce_max,
    "mse_count": mse_count,
    "tet": tet,
}


def build_loss(name: str, **options: Any) -> Loss:
    """Bind a registered loss to its options: ``build_loss("tet", lamb=1e-3)``."""
    fn = LOSSES.get(name)
    if fn is None:
        raise unknown_name("loss", name, LOSSES)
    valid = set(inspect.signature(fn).parameters) - {"out", "target"}
    bad = sorted(set(options) - valid)
    if bad:
        raise ConfigError(f"loss {name!r} has no option(s) {', '.join(bad)}; valid: {', '.join(sorted(valid))}")

    def loss(out: Tensor, target: Tensor) -> Tensor:
        return fn(out, target, **options)

    loss.__name__ = name
    return loss
