r"""A neuro module that runs any NIR-shaped graph: branches, sums, nested graphs and recurrent loops.

:class:`GraphModel` holds one module per node and the graph's edges. Each node's input is the sum
of its predecessors' outputs (NIR's rule for several incoming edges). Nodes are evaluated in a
topological order found by a depth-first search from the input; an edge that closes a cycle (a
*recurrent* edge) carries the source's output of the **previous** time step (zero at the first),
the convention of snnTorch's ``RLeaky`` and of nirtorch.

A graph without recurrent edges runs in **sequence** mode (``is_sequence = True``: every node
processes the whole ``(T, B, ...)`` input at once, stateless layers through
:class:`~neuro.core.TimeDistributed`); a graph with recurrent edges runs in **step** mode
(``is_sequence = False``: input ``(B, ...)``, :func:`neuro.simulate` loops over time).

State: :class:`GraphState` (per-node states, and the last outputs of the sources of recurrent
edges), threaded through ``forward(x, state=None) -> (out, state)`` like every neuro module.

Example:
    >>> import torch
    >>> from neuro import LIFCell, simulate
    >>> fc = torch.nn.Linear(3, 3, bias=False)
    >>> g = GraphModel({"lif": LIFCell(), "rec": fc}, [("input", "lif"), ("lif", "rec"), ("rec", "lif"),
    ...                 ("lif", "output")])
    >>> g.is_sequence, g.recurrent_edges
    (False, (('rec', 'lif'),))
    >>> simulate(g, torch.ones(5, 2, 3)).output.shape
    torch.Size([5, 2, 3])
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, ClassVar, NamedTuple

from torch import Tensor, nn

from neuro.core.sequential import is_stateful
from neuro.core.time_distributed import TimeDistributed
from neuro.errors import ConfigError, ShapeError

__all__ = ["GraphModel", "GraphState", "graph_order"]


class GraphState(NamedTuple):
    nodes: dict[str, Any]  # node name -> that node's state (stateful nodes only)
    feedback: dict[str, Tensor]  # source of a recurrent edge -> its output at the previous step


def graph_order(names: Iterable[str], edges: Iterable[tuple[str, str]], source: str
                ) -> tuple[list[str], set[tuple[str, str]]]:
    """Depth-first topological order from ``source`` and the set of edges that close cycles."""
    succ: dict[str, list[str]] = {}
    for a, b in edges:
        succ.setdefault(a, []).append(b)
    mark: dict[str, int] = {}  # 1 = on the stack, 2 = finished
    post: list[str] = []
    back: set[tuple[str, str]] = set()
    stack = [(source, iter(succ.get(source, [])))]
    mark[source] = 1
    while stack:
        node, it = stack[-1]
        nxt = next(it, None)
        if nxt is None:
            stack.pop()
            mark[node] = 2
            post.append(node)
        elif mark.get(nxt) == 1:
            back.add((node, nxt))
        elif nxt not in mark:
            mark[nxt] = 1
            stack.append((nxt, iter(succ.get(nxt, []))))
    unreachable = sorted(set(names) - set(mark))
    if unreachable:
        raise ConfigError(f"graph nodes not reachable from {source!r}: {', '.join(unreachable)}")
    return post[::-1], back


def _key(name: str, taken: set[str]) -> str:
    key = name.replace(".", "_") or "node"
    if hasattr(nn.ModuleDict, key) or key in taken:
        key = f"node_{key}"
    while key in taken:
        key += "_"
    taken.add(key)
    return key


class GraphModel(nn.Module):
    """Run a graph of modules; see the module docstring.

    Args:
        nodes: node name -> module. Names of the input and output are not among them.
        edges: ``(source, target)`` pairs over node names, ``input`` and ``output``.
        input: name of the graph's input.
        output: name of the graph's output (its value is the sum of its predecessors).
        sequence: run in sequence mode; ``None`` chooses it whenever the graph has no cycle.
            Modules must match the mode (sequence neurons vs cells); stateless layers are wrapped
            in :class:`~neuro.core.TimeDistributed` in sequence mode.
    """

    stateful: ClassVar[bool] = True

    def __init__(self, nodes: Mapping[str, nn.Module], edges: Iterable[tuple[str, str]], input: str = "input",
                 output: str = "output", sequence: bool | None = None) -> None:
        super().__init__()
        edges = tuple((str(a), str(b)) for a, b in edges)
        known = set(nodes) | {input, output}
        bad = [e for e in edges if e[0] not in known or e[1] not in known]
        if bad:
            raise ConfigError(f"GraphModel: edges {bad} name unknown nodes; nodes: {', '.join(sorted(known))}")
        order, back = graph_order(known - {input}, edges, input)
        self.input_name, self.output_name = input, output
        self.edges = edges
        self.recurrent_edges = tuple(e for e in edges if e in back)
        if sequence and self.recurrent_edges:
            raise ConfigError(f"GraphModel: recurrent edges {list(self.recurrent_edges)} need step mode")
        steps = [n for n, m in nodes.items() if getattr(m, "is_sequence", None) is False]
        self.is_sequence = bool(sequence if sequence is not None else not (self.recurrent_edges or steps))
        taken: set[str] = set()
        self.node_keys = {name: _key(name, taken) for name in nodes}
        modules = {}
        for name, module in nodes.items():
            if self.is_sequence and not hasattr(module, "is_sequence"):
                module = TimeDistributed(module)
            modules[self.node_keys[name]] = module
        self.nodes = nn.ModuleDict(modules)
        self._order = [n for n in order if n not in (input, output)]
        self._inputs = {n: [(a, (a, b) in back) for a, b in edges if b == n] for n in [*self._order, output]}
        self._feedback = sorted({a for a, _ in self.recurrent_edges})

    def module(self, name: str) -> nn.Module:
        """The module of node ``name`` (unwrapped from ``TimeDistributed``)."""
        m = self.nodes[self.node_keys[name]]
        return m.module if isinstance(m, TimeDistributed) else m

    def forward(self, x: Tensor, state: GraphState | None = None) -> tuple[Tensor, GraphState]:
        if state is not None and not isinstance(state, GraphState):
            raise ShapeError(f"GraphModel: state must be a GraphState, got {type(state).__name__}")
        node_states = dict(state.nodes) if state is not None else {}
        feedback = state.feedback if state is not None else {}
        outs: dict[str, Tensor] = {self.input_name: x}
        for name in [*self._order, self.output_name]:
            terms = [feedback.get(src) if recurrent else outs[src] for src, recurrent in self._inputs[name]]
            terms = [t for t in terms if t is not None]  # a recurrent edge contributes nothing at t = 0
            total = terms[0]
            for t in terms[1:]:
                total = total + t
            if name == self.output_name:
                outs[name] = total
                break
            module = self.nodes[self.node_keys[name]]
            if is_stateful(module):
                outs[name], node_states[name] = module(total, node_states.get(name))
            else:
                outs[name] = module(total)
        return outs[self.output_name], GraphState(node_states, {n: outs[n] for n in self._feedback})

    def extra_repr(self) -> str:
        mode = "sequence" if self.is_sequence else "step"
        return f"mode={mode}, edges={len(self.edges)}, recurrent_edges={list(self.recurrent_edges)}"
