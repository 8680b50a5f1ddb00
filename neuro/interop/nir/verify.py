"""Verified round trip: export, write, read back, re-import, simulate both, compare layer by layer.

:func:`verify_roundtrip` exports ``model`` with :func:`~neuro.interop.nir.to_nir`, writes the
graph to HDF5 in memory and reads it back (so serialisation is covered too), rebuilds a neuro model
with :func:`~neuro.interop.nir.from_nir`, runs the original and the rebuilt model on the same
input, and reports for every neuron layer how many spikes differ and the largest membrane (and
synaptic current) difference. The comparison runs in float64 by default, where conversions and
the BatchNorm fold agree to ~1e-15, so any spike that differs is a semantic divergence.

Example:
    >>> import torch
    >>> from neuro import LIF, Sequential
    >>> report = verify_roundtrip(Sequential(torch.nn.Linear(4, 3), LIF()), torch.rand(20, 2, 4))
    >>> report.ok, [layer.node for layer in report.layers]
    (True, ['lif_1'])
"""

from __future__ import annotations

import copy
import io
from dataclasses import dataclass, field

import nir
import torch
from torch import Tensor, nn

from neuro.core.simulate import simulate
from neuro.interop.nir.export import export_with_paths
from neuro.interop.nir.import_ import import_with_paths

__all__ = ["LayerDivergence", "RoundTripReport", "verify_roundtrip"]


@dataclass(frozen=True)
class LayerDivergence:
    """Divergence of one neuron layer between the original and the re-imported model."""

    node: str  # NIR node path
    module: str  # module path in the original model
    kind: str
    spikes: int  # spikes the original layer emitted (0 for non-spiking layers)
    spikes_differing: int  # time steps x neurons whose spike differs
    max_abs: dict[str, float] = field(default_factory=dict)  # state field -> max |original - re-imported|

    def ok(self, atol: float) -> bool:
        return self.spikes_differing == 0 and all(v <= atol for v in self.max_abs.values())


@dataclass(frozen=True)
class RoundTripReport:
    """Result of :func:`verify_roundtrip`; ``ok`` is False on any divergence. ``graph`` is the graph read back."""

    layers: tuple[LayerDivergence, ...]
    output_max_abs: float
    atol: float
    dtype: str
    graph: nir.NIRGraph = field(repr=False)

    @property
    def ok(self) -> bool:
        return all(layer.ok(self.atol) for layer in self.layers) and self.output_max_abs <= self.atol

    def __str__(self) -> str:
        head = f"{'layer':<24} {'kind':<10} {'spikes':>9} {'differ':>7}  max |diff| of state"
        rows = [head]
        for r in self.layers:
            diffs = ", ".join(f"{k} {v:.3g}" for k, v in r.max_abs.items()) or "-"
            flag = "" if r.ok(self.atol) else "   <-- DIVERGES"
            rows.append(f"{r.node:<24} {r.kind:<10} {r.spikes:>9} {r.spikes_differing:>7}  {diffs}{flag}")
        verdict = "identical" if self.ok else "DIVERGED"
        rows.append(f"output max |diff| {self.output_max_abs:.3g} (tolerance {self.atol:g}, {self.dtype}): {verdict}")
        return "\n".join(rows)


def _records(trace_records: dict[str, Tensor], path: str) -> dict[str, Tensor]:
    prefix = f"{path}."
    return {k[len(prefix):]: v for k, v in trace_records.items() if k.startswith(prefix) and "." not in k[len(prefix):]}


def roundtrip_graph(graph: nir.NIRGraph) -> nir.NIRGraph:
    """Write ``graph`` to HDF5 in memory and read it back."""
    buffer = io.BytesIO()
    nir.write(buffer, graph)
    buffer.seek(0)
    return nir.read(buffer)


def verify_roundtrip(model: nn.Module, x: Tensor, *, fold_batchnorm: bool = False,
                     dtype: torch.dtype = torch.float64, atol: float = 1e-6) -> RoundTripReport:
    """Export ``model``, re-import it and compare both on input ``x``; see the module docstring.

    Args:
        model: the model to export (left unchanged).
        x: time-major input ``(T, B, ...)`` used for the comparison (and for the export's shapes).
        fold_batchnorm: passed to :func:`~neuro.interop.nir.to_nir`; the comparison is against
            the original, unfolded model.
        dtype: precision of both simulations.
        atol: tolerance on membranes and non-spike outputs; spikes must be identical.
    """
    graph, exported = export_with_paths(model, x, fold_batchnorm=fold_batchnorm)
    read_back = roundtrip_graph(graph)
    rebuilt, imported = import_with_paths(read_back)
    original = copy.deepcopy(model).eval().to(dtype)
    rebuilt = rebuilt.eval().to(dtype)
    with torch.no_grad():
        a = simulate(original, x.to(dtype), record=True)
        b = simulate(rebuilt, x.to(dtype), record=True)
    layers = []
    for node, path in exported.items():
        if node not in imported:
            continue
        module = original.get_submodule(path)
        if not hasattr(module, "State"):
            continue
        rec_a = _records(dict(a.records), path or type(original).__name__)
        rec_b = _records(dict(b.records), imported[node] or type(rebuilt).__name__)
        spiking = getattr(module, "output_name", "") == "spikes"
        diffs = {k: float((rec_a[k] - rec_b[k]).abs().max()) if rec_a[k].numel() else 0.0
                 for k in rec_a if k in rec_b and not (spiking and k == "spikes")}
        differ = int((rec_a["spikes"] != rec_b["spikes"]).sum()) if spiking and "spikes" in rec_b else 0
        layers.append(LayerDivergence(node, path, type(module).__name__,
                                      int(rec_a["spikes"].sum()) if spiking else 0, differ, diffs))
    out = float((a.output - b.output).abs().max()) if a.output.numel() else 0.0
    return RoundTripReport(tuple(layers), out, atol, str(dtype).removeprefix("torch."), read_back)
