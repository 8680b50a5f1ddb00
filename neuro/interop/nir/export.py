"""neuro model -> NIR graph.

:func:`to_nir` walks the model's structure: a :class:`neuro.Sequential` becomes a chain, a nested
``Sequential`` a nested graph, a :class:`~neuro.interop.nir.GraphModel` its own nodes and edges
(recurrent ones included), and any other module is traced with ``nirtorch.torch_to_nir`` (module
calls and ``+`` only). Each layer becomes a node through :data:`~neuro.interop.nir.nodes.EXPORTERS`;
layers are named ``<type>_<index>`` (``conv2d_0``, ``lif_2`` ...). A short run on a zero input
shaped like ``sample_input`` records every layer's per-sample input shape (neuron parameters are
written at the layer's shape, convolutions and ``Flatten`` need their input shape).

Every operation NIR cannot represent is collected first and reported in one
:class:`~neuro.interop.nir.errors.NIRExportError`, each with its fix where one exists.

Example:
    >>> import torch
    >>> from neuro import LIF, Sequential
    >>> g = to_nir(Sequential(torch.nn.Linear(4, 3), LIF()), torch.zeros(1, 1, 4))
    >>> list(g.nodes), g.metadata["dt"]
    (['input', 'linear_0', 'lif_1', 'output'], 0.001)
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import nir
import nirtorch
import numpy as np
import torch
from torch import Tensor, nn

from neuro import __version__, backends
from neuro.core.sequential import is_stateful
from neuro.core.simulate import simulate
from neuro.core.time_distributed import TimeDistributed
from neuro.errors import ShapeError
from neuro.interop.nir.errors import NIRExportError, Problem, Unsupported
from neuro.interop.nir.fold import fold_batchnorm as _fold
from neuro.interop.nir.graph import GraphModel
from neuro.interop.nir.nodes import EXPORTERS, KNOWN_UNSUPPORTED, SKIPPED

__all__ = ["export_with_paths", "probe_shapes", "to_nir"]

_TIME, _BATCH = 2, 3  # probe sizes: distinct primes, so (T, B, ...) and (T*B, ...) are told apart


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix and name else prefix or name


def probe_shapes(model: nn.Module, sample_input: Tensor) -> dict[int, tuple[int, ...]]:
    """Per-sample input shape of every module called when running ``model`` (keyed by ``id``)."""
    if not isinstance(sample_input, Tensor) or sample_input.dim() < 2:
        raise ShapeError("to_nir: sample_input must be a time-major tensor (T, B, ...), got "
                         f"{tuple(sample_input.shape) if isinstance(sample_input, Tensor) else sample_input!r}")
    probe = torch.zeros((_TIME, _BATCH, *sample_input.shape[2:]), dtype=sample_input.dtype,
                        device=sample_input.device)
    lead = _TIME * _BATCH if getattr(model, "is_sequence", True) else _BATCH
    shapes: dict[int, tuple[int, ...]] = {}

    def hook(module: nn.Module, args: tuple[Any, ...]) -> None:
        if id(module) in shapes or not args or not isinstance(args[0], Tensor):
            return
        dims = tuple(args[0].shape)
        for k in range(1, len(dims) + 1):
            if math.prod(dims[:k]) == lead:
                shapes[id(module)] = dims[k:]
                return

    modes = {m: m.training for m in model.modules()}
    handles = [m.register_forward_pre_hook(hook) for m in model.modules()]
    try:
        model.eval()
        with torch.no_grad(), backends.use("reference"):  # the specification: composite layers call their parts
            simulate(model, probe)
    finally:
        for h in handles:
            h.remove()
        for m, training in modes.items():
            m.train(training)
    return shapes


class _Exporter:
    def __init__(self, shapes: dict[int, tuple[int, ...]], root: nn.Module) -> None:
        self.shapes = shapes
        self.problems: list[Problem] = []
        self.paths: dict[str, str] = {}  # NIR node path -> module path in the model
        self.module_paths = {id(m): p for p, m in root.named_modules()}

    # -- leaves ------------------------------------------------------------------------------
    def leaf(self, module: nn.Module, path: str) -> nir.NIRNode | None:
        inner = module.module if isinstance(module, TimeDistributed) else module
        kind = type(inner).__name__
        fn = EXPORTERS.get(type(inner))
        if fn is None:
            reason, fix = KNOWN_UNSUPPORTED.get(type(inner), (
                f"{kind} has no NIR equivalent (NIR nodes: Affine, Linear, Conv1d, Conv2d, AvgPool2d, SumPool2d, "
                "Flatten, Scale, Delay, Threshold, LIF, LI, IF, CubaLIF)", ""))
            self.problems.append(Problem(path, kind, reason, fix))
            return None
        shape = self.shapes.get(id(inner), self.shapes.get(id(module)))
        if shape is None:
            self.problems.append(Problem(path, kind, "was not called when running the sample input", ""))
            return None
        try:
            return fn(inner, shape)
        except Unsupported as exc:
            self.problems.append(Problem(path, kind, exc.reason, exc.fix))
            return None

    # -- containers ------------------------------------------------------------------------------
    def graph(self, model: nn.Module, path: str, prefix: str) -> nir.NIRGraph | None:
        shape = self.shapes.get(id(model))
        if shape is None:
            self.problems.append(Problem(path or "<model>", type(model).__name__,
                                         "was not called when running the sample input", ""))
            return None
        if isinstance(model, nn.Sequential):
            return self._chain([(_join(path, n), m) for n, m in model.named_children()], path, prefix, shape)
        if hasattr(model, "nir_chain"):  # a composite layer that is a chain of its parts (e.g. SpikingLinear)
            return self._chain([(_join(path, n), m) for n, m in model.nir_chain()], path, prefix, shape)
        if isinstance(model, GraphModel):
            return self._graph_model(model, path, prefix, shape)
        if (type(model) in EXPORTERS or type(model) in KNOWN_UNSUPPORTED
                or isinstance(model, (TimeDistributed, *SKIPPED)) or not list(model.children())):
            return self._chain([(path, model)], path, prefix, shape)
        return self._trace(model, path, prefix, shape)

    def _node(self, module: nn.Module, path: str, nir_path: str) -> nir.NIRNode | None:
        inner = module.module if isinstance(module, TimeDistributed) else module
        if isinstance(inner, nn.Sequential | GraphModel) or hasattr(inner, "nir_chain") or (
                list(inner.children()) and type(inner) not in EXPORTERS and type(inner) not in KNOWN_UNSUPPORTED):
            return self.graph(inner, path if inner is module else _join(path, "module"), nir_path)
        node = self.leaf(module, path)
        if node is not None:
            self.paths[nir_path] = path
        return node

    def _chain(self, children: list[tuple[str, nn.Module]], path: str, prefix: str, shape: tuple[int, ...]
               ) -> nir.NIRGraph | None:
        """A chain ``input -> children... -> output``; ``children`` are (module path, module) pairs."""
        nodes: dict[str, nir.NIRNode] = {"input": nir.Input(input_type=np.array(shape))}
        names = ["input"]
        for i, (child_path, module) in enumerate(children):
            inner = module.module if isinstance(module, TimeDistributed) else module
            if isinstance(inner, SKIPPED):
                continue
            index = child_path.rsplit(".", 1)[-1] if child_path != path else str(i)
            name = f"{type(inner).__name__.lower()}_{index}"
            node = self._node(module, child_path, _join(prefix, name))
            if node is not None:
                nodes[name] = node
                names.append(name)
        nodes["output"] = nir.Output(output_type=None)
        names.append("output")
        return self._make(nodes, list(itertools.pairwise(names)), path)

    def _graph_model(self, g: GraphModel, path: str, prefix: str, shape: tuple[int, ...]) -> nir.NIRGraph | None:
        nodes: dict[str, nir.NIRNode] = {g.input_name: nir.Input(input_type=np.array(shape)),
                                         g.output_name: nir.Output(output_type=None)}
        for name, key in g.node_keys.items():
            node = self._node(g.nodes[key], _join(path, f"nodes.{key}"), _join(prefix, name))
            if node is not None:
                nodes[name] = node
        return self._make(nodes, list(g.edges), path)

    def _trace(self, model: nn.Module, path: str, prefix: str, shape: tuple[int, ...]) -> nir.NIRGraph | None:
        before = len(self.problems)
        blocked: list[str] = []  # unsupported modules: their sub-modules are not listed again
        for sub_path, m in model.named_modules():
            if not sub_path or any(sub_path.startswith(b + ".") for b in blocked):
                continue
            if type(m) in KNOWN_UNSUPPORTED or (not list(m.children()) and not isinstance(m, SKIPPED)):
                self.leaf(m, _join(path, sub_path))  # converts once to record every problem before tracing
                blocked.append(sub_path)
        if len(self.problems) > before:
            return None
        made: dict[int, nn.Module] = {}

        def convert(m: nn.Module) -> nir.NIRNode:
            node = nir.ir.graph.Identity(input_type=None) if isinstance(m, SKIPPED) else self.leaf(
                m, self.module_paths.get(id(m), type(m).__name__))
            if node is None:
                raise Unsupported("see the problems listed")
            made[id(node)] = m
            return node

        module_map = {t: convert for t in (*EXPORTERS, *SKIPPED, TimeDistributed)}
        stateful = {type(m) for m in model.modules() if is_stateful(m) and type(m) in EXPORTERS}
        try:
            traced = nirtorch.torch_to_nir(model, module_map, default_dict=None, type_check=False,
                                           stateful_modules=stateful)
        except Unsupported:
            return None
        except Exception as exc:  # fx cannot trace data-dependent control flow, reshapes, cat ...
            self.problems.append(Problem(path or "<model>", type(model).__name__,
                                         f"cannot trace its forward with nirtorch ({type(exc).__name__}: {exc})",
                                         "build it as neuro.Sequential or GraphModel, or use only module calls and "
                                         "+ in forward"))
            return None
        nodes, edges = _drop_identities(dict(traced.nodes), list(traced.edges))
        for name, node in nodes.items():
            if isinstance(node, nir.Input):
                nodes[name] = nir.Input(input_type=np.array(shape))
            elif isinstance(node, nir.Output):
                nodes[name] = nir.Output(output_type=None)
            elif id(node) in made:
                self.paths[_join(prefix, name)] = self.module_paths.get(id(made[id(node)]), name)
        return self._make(nodes, edges, path)

    def _make(self, nodes: dict[str, nir.NIRNode], edges: list[tuple[str, str]], path: str) -> nir.NIRGraph | None:
        if self.problems:
            return None
        try:
            return nir.NIRGraph(nodes=nodes, edges=edges, metadata={}, type_check=True)
        except (ValueError, AssertionError) as exc:
            raise ShapeError(f"to_nir: NIR rejected the graph of '{path or '<model>'}': {exc}") from None


def _drop_identities(nodes: dict[str, nir.NIRNode], edges: list[tuple[str, str]]
                     ) -> tuple[dict[str, nir.NIRNode], list[tuple[str, str]]]:
    """Remove identity nodes (dropout, nn.Identity), connecting their sources to their targets."""
    for name in [n for n, node in nodes.items() if type(node) is nir.ir.graph.Identity]:
        sources = [a for a, b in edges if b == name]
        targets = [b for a, b in edges if a == name]
        edges = [e for e in edges if name not in e] + [(a, b) for a in sources for b in targets]
        del nodes[name]
    return nodes, list(dict.fromkeys(edges))


def _dts(graph: nir.NIRGraph) -> set[float]:
    out = set()
    for node in graph.nodes.values():
        if isinstance(node, nir.NIRGraph):
            out |= _dts(node)
        elif "dt" in (node.metadata or {}):
            out.add(float(node.metadata["dt"]))
    return out


def export_with_paths(model: nn.Module, sample_input: Tensor, *, fold_batchnorm: bool = False
                      ) -> tuple[nir.NIRGraph, dict[str, str]]:
    """:func:`to_nir`, also returning NIR node path -> module path (for per-layer comparisons)."""
    unfoldable: tuple[Problem, ...] = ()
    if fold_batchnorm:
        model, _, unfoldable = _fold(model)
    exporter = _Exporter(probe_shapes(model, sample_input), model)
    graph = exporter.graph(model, "", "")
    skip = {p.path for p in unfoldable}  # their generic "NIR has no batch norm" entries would repeat them
    problems = [*unfoldable, *(p for p in exporter.problems if p.path not in skip)]
    if problems or graph is None:
        raise NIRExportError(problems)
    dts = _dts(graph)
    graph.metadata = {"producer": f"neuro {__version__}", **({"dt": dts.pop()} if len(dts) == 1 else {})}
    return graph, exporter.paths


def to_nir(model: nn.Module, sample_input: Tensor, *, fold_batchnorm: bool = False) -> nir.NIRGraph:
    """Export ``model`` as a NIR graph.

    Args:
        model: a neuro model (``Sequential``, ``GraphModel``, a single layer, or a module whose
            ``forward`` only calls sub-modules and adds their outputs).
        sample_input: a time-major tensor ``(T, B, ...)``; only its per-step shape, dtype and
            device are used.
        fold_batchnorm: fold ``Conv/Linear -> BatchNorm`` pairs (inference statistics) before
            exporting; otherwise BatchNorm is reported as unsupported.

    Returns:
        A ``nir.NIRGraph`` whose metadata holds ``dt`` (seconds) when all neurons share it.

    Raises:
        NIRExportError: listing every operation NIR cannot represent, each with its fix.
    """
    return export_with_paths(model, sample_input, fold_batchnorm=fold_batchnorm)[0]
