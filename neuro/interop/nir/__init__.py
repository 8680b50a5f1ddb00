"""NIR (Neuromorphic Intermediate Representation) export and import, with verified round trips.

* :func:`to_nir` / :func:`from_nir` — neuro model <-> ``nir.NIRGraph`` (exact parameter conversion,
  ``dt`` kept in the graph's and nodes' metadata); :func:`read` / ``nir.write`` for ``.nir`` files.
* :func:`verify_roundtrip` — export, write, read back, re-import, simulate both on the same input
  and report per-layer divergence of spikes and membranes.
* :func:`fold_batchnorm` — the fix for batch norm; :func:`retime` — rescale a graph to another
  simulation step (for tools with a fixed ``dt``).
* :data:`EXPORTERS` / :data:`IMPORTERS` — the two type -> function tables.

Example:
    >>> import torch
    >>> from neuro import LIF, Sequential
    >>> net = Sequential(torch.nn.Linear(4, 3), LIF())
    >>> report = verify_roundtrip(net, torch.rand(20, 2, 4))
    >>> report.ok
    True
"""

from neuro.interop.nir.errors import NIRExportError, NIRImportError, Problem
from neuro.interop.nir.export import export_with_paths, to_nir
from neuro.interop.nir.fold import Folded, fold_batchnorm
from neuro.interop.nir.graph import GraphModel, GraphState
from neuro.interop.nir.import_ import from_nir, import_with_paths, read
from neuro.interop.nir.layers import Delay, DelayCell, DelayState, Scale, Threshold
from neuro.interop.nir.nodes import EXPORTERS, IMPORTERS, KNOWN_UNSUPPORTED, NEEDS_DT
from neuro.interop.nir.retime import retime
from neuro.interop.nir.verify import LayerDivergence, RoundTripReport, verify_roundtrip

__all__ = [
    "EXPORTERS", "IMPORTERS", "KNOWN_UNSUPPORTED", "NEEDS_DT", "Delay", "DelayCell", "DelayState", "Folded",
    "GraphModel", "GraphState", "LayerDivergence", "NIRExportError", "NIRImportError", "Problem", "RoundTripReport",
    "Scale", "Threshold", "export_with_paths", "fold_batchnorm", "from_nir", "import_with_paths", "read", "retime",
    "to_nir", "verify_roundtrip",
]
