"""Plots (matplotlib, non-interactive): spike rasters, membrane traces and training curves."""

from neuro.plot.figures import plot_history, plot_raster, plot_trace

__all__ = ["plot_history", "plot_raster", "plot_trace"]
