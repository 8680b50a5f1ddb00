"""Figures written to files; every function returns the matplotlib ``Figure`` it drew.

Example:
    >>> import torch, tempfile, pathlib
    >>> fig = plot_raster({"lif": torch.rand(20, 30) > 0.8})
    >>> fig.savefig(pathlib.Path(tempfile.mkdtemp()) / "raster.png")
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only; never needs a display

import matplotlib.pyplot as plt
import torch
from matplotlib.figure import Figure
from torch import Tensor

__all__ = ["plot_history", "plot_raster", "plot_trace"]


def plot_raster(spikes: Mapping[str, Tensor], max_neurons: int = 200, dt_ms: float | None = None,
                title: str = "") -> Figure:
    """One raster panel per layer; each value is a ``(T, N)`` (or ``(T, ...)``) spike tensor of one sample.

    Layers with more than ``max_neurons`` neurons show an evenly spaced subset.
    """
    layers = list(spikes.items())
    fig, axes = plt.subplots(len(layers), 1, figsize=(8, 1.2 + 1.6 * len(layers)), sharex=True, squeeze=False)
    for ax, (name, s) in zip(axes[:, 0], layers, strict=True):
        s = s.detach().reshape(s.shape[0], -1).float().cpu()  # (T, N)
        n = s.shape[1]
        keep = torch.linspace(0, n - 1, min(n, max_neurons)).long().unique()
        t, i = torch.nonzero(s[:, keep], as_tuple=True)
        x = t.float() * dt_ms if dt_ms else t.float()
        ax.scatter(x.numpy(), i.numpy(), s=2, marker="|", color="black")
        rate = float(s.mean())
        ax.set_ylabel(f"{name}\n{n} neurons", fontsize=8)
        ax.set_ylim(-0.5, len(keep) - 0.5)
        ax.set_title(f"{name}: firing rate {rate:.3f} spikes/neuron/step", fontsize=8, loc="left")
    axes[-1, 0].set_xlabel("time (ms)" if dt_ms else "time step")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_trace(values: Mapping[str, Tensor], threshold: float | None = None, title: str = "") -> Figure:
    """Membrane (or any state) traces: each value is ``(T,)`` or ``(T, k)`` for k curves."""
    fig, ax = plt.subplots(figsize=(8, 3))
    for name, v in values.items():
        v = v.detach().reshape(v.shape[0], -1).float().cpu()
        for k in range(v.shape[1]):
            ax.plot(v[:, k].numpy(), label=name if k == 0 else None, lw=1)
    if threshold is not None:
        ax.axhline(threshold, ls="--", color="gray", lw=1, label="threshold")
    ax.set_xlabel("time step")
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def plot_history(history: Sequence[Mapping[str, Any]], title: str = "") -> Figure:
    """Loss and accuracy per epoch from :func:`neuro.training.fit`'s history."""
    epochs = [row["epoch"] for row in history]
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(9, 3.2))
    for split in ("train", "test"):
        if history and f"{split}_loss" in history[0]:
            ax_loss.plot(epochs, [row[f"{split}_loss"] for row in history], marker="o", label=split)
            ax_acc.plot(epochs, [row[f"{split}_accuracy"] for row in history], marker="o", label=split)
    ax_loss.set_xlabel("epoch")
    ax_loss.set_ylabel("loss")
    ax_acc.set_xlabel("epoch")
    ax_acc.set_ylabel("accuracy")
    ax_acc.set_ylim(0, 1)
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
