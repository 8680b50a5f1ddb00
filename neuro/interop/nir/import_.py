"""NIR graph -> runnable neuro model.

:func:`from_nir` maps each node through :data:`~neuro.interop.nir.nodes.IMPORTERS`. A graph that is
a plain chain (``input -> a -> b -> ... -> output``) becomes a :class:`neuro.Sequential` (nested
chains nested ``Sequential``\\ s); any other graph (branches, sums, nested graphs, recurrent loops)
becomes a :class:`~neuro.interop.nir.GraphModel`. Graphs without cycles run in sequence mode (LIF,
``TimeDistributed`` layers); a cycle anywhere switches the whole model to single-step cells.

**The time step.** NIR is continuous in time; neuro simulates with forward Euler at ``dt``. It is
taken, in this order, from the ``dt`` argument, the node's ``metadata["dt"]``, then the enclosing
graphs' ``metadata["dt"]`` (neuro writes both). A graph from another tool usually carries none:
then every node that needs it (neurons, ``Delay``) is listed in one error asking for ``dt=``.
snnTorch's exports assume ``dt = 1e-4`` s, SpikingJelly's ``export_to_nir`` defaults to ``1e-4`` s,
Norse's ``to_nir`` to ``1e-3`` s.

Example:
    >>> import nir, numpy as np
    >>> g = nir.NIRGraph.from_list(nir.Affine(np.eye(2, dtype=np.float32), np.zeros(2, np.float32)),
    ...                            nir.LIF(tau=np.full(2, 2e-3), r=np.ones(2), v_leak=np.zeros(2),
    ...                                    v_threshold=np.ones(2)))
    >>> model = from_nir(g, dt=1e-3)
    >>> [type(m).__name__ for m in model], model[1].tau_mem
    (['TimeDistributed', 'LIF'], 0.002)
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import nir
from torch import nn

from neuro.core.sequential import Sequential
from neuro.errors import ConfigError, DataFormatError
from neuro.interop.nir.errors import NIRImportError, Problem, Unsupported
from neuro.interop.nir.graph import GraphModel, graph_order
from neuro.interop.nir.nodes import IMPORTERS, NEEDS_DT
from neuro.interop.nir.params import NodeContext, plain

__all__ = ["from_nir", "has_cycle", "import_with_paths", "read"]

_DT_HINT = ("pass dt=<seconds> (snnTorch graphs assume 1e-4, SpikingJelly's export_to_nir defaults to 1e-4, "
            "Norse's to_nir to 1e-3)")


def read(path: str | Path) -> nir.NIRGraph:
    """``nir.read`` with errors that name the file."""
    path = Path(path)
    if not path.is_file():
        raise DataFormatError(f"NIR file not found: {path}")
    try:
        graph = nir.read(path)
    except (OSError, KeyError, ValueError, TypeError, AssertionError) as exc:
        raise DataFormatError(f"{path}: not a readable NIR graph ({type(exc).__name__}: {exc})") from None
    if not isinstance(graph, nir.NIRGraph):
        graph = nir.NIRGraph.from_list(graph)
    return graph


def _io(graph: nir.NIRGraph) -> tuple[list[str], list[str]]:
    return ([n for n, v in graph.nodes.items() if isinstance(v, nir.Input)],
            [n for n, v in graph.nodes.items() if isinstance(v, nir.Output)])


def has_cycle(graph: nir.NIRGraph) -> bool:
    """Whether the graph or any nested graph has a recurrent (cycle-closing) edge."""
    inputs, _ = _io(graph)
    if inputs and graph_order(graph.nodes, graph.edges, inputs[0])[1]:
        return True
    return any(has_cycle(n) for n in graph.nodes.values() if isinstance(n, nir.NIRGraph))


def _chain(graph: nir.NIRGraph, source: str, sink: str) -> list[str] | None:
    """The node names of ``source -> ... -> sink`` if the graph is exactly that path, else ``None``."""
    succ: dict[str, list[str]] = {}
    pred: dict[str, list[str]] = {}
    for a, b in graph.edges:
        succ.setdefault(a, []).append(b)
        pred.setdefault(b, []).append(a)
    order, node = [], source
    while True:
        nxt = succ.get(node, [])
        if len(nxt) != 1 or len(pred.get(nxt[0], [])) != 1:
            return None
        if nxt[0] == sink:
            break
        node = nxt[0]
        order.append(node)
    return order if len(order) == len(graph.nodes) - 2 else None


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix and name else prefix or name


class _Importer:
    def __init__(self, dt: float | None, step: bool) -> None:
        self.dt, self.step = dt, step
        self.problems: list[Problem] = []
        self.paths: dict[str, str] = {}  # NIR node path -> module path in the built model

    def node(self, node: nir.NIRNode, graph_dt: float | None, nir_path: str) -> nn.Module | None:
        kind = type(node).__name__
        fn = IMPORTERS.get(type(node))
        if fn is None:
            self.problems.append(Problem(nir_path, kind, f"neuro has no module for NIR {kind}", ""))
            return None
        node_dt = plain(node.metadata or {}).get("dt")
        dt = self.dt if self.dt is not None else node_dt if node_dt is not None else graph_dt
        if type(node) in NEEDS_DT and dt is None:
            self.problems.append(Problem(nir_path, kind, "needs a time step, and the graph carries none", _DT_HINT))
            return None
        if dt is not None and not dt > 0:
            self.problems.append(Problem(nir_path, kind, f"dt must be > 0 seconds, got {dt!r}", ""))
            return None
        try:
            return fn(node, NodeContext(float(dt) if dt is not None else 0.0, self.step))
        except Unsupported as exc:
            self.problems.append(Problem(nir_path, kind, exc.reason, exc.fix))
            return None

    def graph(self, graph: nir.NIRGraph, graph_dt: float | None, prefix: str
              ) -> tuple[nn.Module | None, dict[str, str]]:
        """The model of ``graph`` and its NIR node path -> module path (relative to it) map."""
        meta_dt = plain(graph.metadata).get("dt") if isinstance(graph.metadata, dict) else None
        graph_dt = meta_dt if meta_dt is not None else graph_dt
        inputs, outputs = _io(graph)
        if len(inputs) != 1 or len(outputs) != 1:
            self.problems.append(Problem(prefix or "<graph>", "NIRGraph", f"has {len(inputs)} inputs and "
                                         f"{len(outputs)} outputs; neuro runs graphs with exactly one of each", ""))
            return None, {}
        chain = _chain(graph, inputs[0], outputs[0])
        names = chain if chain is not None else [n for n in graph.nodes if n not in (inputs[0], outputs[0])]
        modules: dict[str, nn.Module] = {}
        inner: dict[str, dict[str, str]] = {}  # node name -> {NIR path: module path inside that node}
        for name in names:
            node, nir_path = graph.nodes[name], _join(prefix, name)
            if isinstance(node, nir.NIRGraph):
                module, paths = self.graph(node, graph_dt, nir_path)
            else:
                module, paths = self.node(node, graph_dt, nir_path), {nir_path: ""}
            if module is not None:
                modules[name], inner[name] = module, paths
        if self.problems:
            return None, {}
        if chain is not None:
            model: nn.Module = Sequential(*(modules[n] for n in names))
            where = {n: str(i) for i, n in enumerate(names)}
        else:
            try:
                model = GraphModel(modules, graph.edges, input=inputs[0], output=outputs[0], sequence=not self.step)
            except ConfigError as exc:
                self.problems.append(Problem(prefix or "<graph>", "NIRGraph", str(exc), ""))
                return None, {}
            where = {n: f"nodes.{model.node_keys[n]}" for n in names}
        return model, {k: _join(where[n], v) for n, paths in inner.items() for k, v in paths.items()}


def import_with_paths(graph: nir.NIRGraph | str | Path, *, dt: float | None = None,
                      mode: Literal["auto", "step", "sequence"] = "auto") -> tuple[nn.Module, dict[str, str]]:
    """:func:`from_nir`, also returning NIR node path -> module path in the built model."""
    if isinstance(graph, str | Path):
        graph = read(graph)
    elif not isinstance(graph, nir.NIRGraph):
        if not isinstance(graph, nir.NIRNode):
            raise ConfigError(f"from_nir: expected a nir.NIRGraph or a file path, got {type(graph).__name__}")
        graph = nir.NIRGraph.from_list(graph)
    if mode not in ("auto", "step", "sequence"):
        raise ConfigError(f"from_nir: mode must be 'auto', 'step' or 'sequence', got {mode!r}")
    cyclic = has_cycle(graph)
    if mode == "sequence" and cyclic:
        raise ConfigError("from_nir: the graph has recurrent edges, which need mode='step'")
    importer = _Importer(dt, step=cyclic or mode == "step")
    model, paths = importer.graph(graph, None, "")
    if importer.problems or model is None:
        raise NIRImportError(importer.problems)
    return model, paths


def from_nir(graph: nir.NIRGraph | str | Path, *, dt: float | None = None,
             mode: Literal["auto", "step", "sequence"] = "auto") -> nn.Module:
    """Build a runnable neuro model from a NIR graph (or a ``.nir`` file).

    Args:
        graph: a ``nir.NIRGraph`` (a single node is wrapped into one) or the path of a NIR file.
        dt: simulation time step in seconds; overrides the graph's ``metadata["dt"]``.
        mode: ``"auto"`` (sequence modules unless the graph has cycles), ``"step"`` (single-step
            cells throughout) or ``"sequence"``.

    Returns:
        A :class:`neuro.Sequential` for chains, else a :class:`~neuro.interop.nir.GraphModel`;
        run it with :func:`neuro.simulate` on time-major input ``(T, B, ...)``.

    Raises:
        NIRImportError: listing every node neuro cannot simulate or that lacks a time step.
    """
    return import_with_paths(graph, dt=dt, mode=mode)[0]

