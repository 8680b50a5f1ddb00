"""Per-layer stacked-bar plot of energy reports (one panel per report).

Example:
    >>> import pathlib, tempfile
    >>> from hardware_models.report import EnergyReport, LayerEnergy
    >>> r = EnergyReport("cmos45", "sdt", "d", "fp32", 4, (LayerEnergy("fc", "Linear", "synapse", {"ac": 1e-9}),))
    >>> plot_energy([r]).savefig(pathlib.Path(tempfile.mkdtemp()) / "energy.png")
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")  # files only; never needs a display

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from hardware_models.report import COMPONENTS, EnergyReport, format_energy

__all__ = ["plot_energy"]

_COLORS = dict(zip(COMPONENTS, plt.get_cmap("tab10").colors, strict=False))


def plot_energy(reports: Sequence[EnergyReport], title: str = "") -> Figure:
    """One stacked-bar panel per report: a bar per layer, stacked by energy component (nJ)."""
    fig, axes = plt.subplots(len(reports), 1, figsize=(9, 0.8 + 2.6 * len(reports)), squeeze=False)
    for ax, report in zip(axes[:, 0], reports, strict=True):
        layers = [x for x in report.layers if x.total > 0] or list(report.layers)
        names = [f"{x.name}\n{x.module}" for x in layers]
        bottom = [0.0] * len(layers)
        for comp in COMPONENTS:
            values = [x.energy.get(comp, 0.0) * 1e9 for x in layers]
            if any(values):
                ax.bar(names, values, bottom=bottom, label=comp, color=_COLORS[comp])
                bottom = [b + v for b, v in zip(bottom, values, strict=True)]
        ax.set_ylabel("energy per sample (nJ)", fontsize=8)
        ax.set_title(f"{report.chip}, convention {report.convention!r}: total {format_energy(report.total)}",
                     fontsize=9, loc="left")
        ax.tick_params(axis="x", labelsize=7, rotation=30)
        ax.legend(fontsize=7, loc="upper right")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
