"""``neuro import model.nir``: load a NIR graph into a runnable neuro model and print a summary.

The summary lists the graph's nodes, the time step used (``--dt`` overrides the graph's; graphs from
other tools often carry none: snnTorch means 1e-4 s, Norse 1e-3 s, SpikingJelly 1e-4 s by default),
the neuro model built, and the spike counts of a short run on seeded random events.
"""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("import", help="load a NIR graph into a neuro model and summarise it",
                       description=__doc__.split("\n\n", 1)[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("graph", help="NIR file (.nir, HDF5)")
    p.add_argument("--dt", type=float, default=None, help="simulation step in seconds (default: the graph's)")
    p.add_argument("--mode", default="auto", choices=("auto", "step", "sequence"),
                   help="sequence modules, single-step cells, or auto (cells only for recurrent graphs)")
    p.add_argument("--steps", type=int, default=20, help="time steps of the smoke run (0: skip it)")
    p.add_argument("--rate", type=float, default=0.2, help="event probability of the smoke run's input")
    p.set_defaults(func=run)


def _shape(node) -> str:
    types = [t for t in (node.input_type or {}).values() if t is not None]
    return str(tuple(int(v) for v in types[0])) if types else "?"


def _walk(graph, prefix: str = ""):
    """(path, kind, input shape) of every node, nested graphs included, in execution order."""
    import nir

    from neuro.interop.nir.graph import graph_order

    inputs = [n for n, v in graph.nodes.items() if isinstance(v, nir.Input)]
    order = graph_order(graph.nodes, graph.edges, inputs[0])[0] if len(inputs) == 1 else list(graph.nodes)
    for name in order:
        node = graph.nodes[name]
        path = f"{prefix}.{name}" if prefix else name
        if isinstance(node, nir.NIRGraph):
            yield path, "NIRGraph", _shape(next(iter(node.inputs.values()), node))
            yield from _walk(node, path)
        elif not isinstance(node, nir.Input | nir.Output):
            yield path, type(node).__name__, _shape(node)


def run(args: argparse.Namespace) -> int:
    import torch

    from neuro.core.simulate import simulate
    from neuro.interop.nir import import_with_paths, read
    from neuro.interop.nir.params import plain

    graph = read(args.graph)
    meta = plain(graph.metadata) if isinstance(graph.metadata, dict) else {}
    rows = list(_walk(graph))
    producer = meta.get("producer", "unknown tool")
    dt = args.dt if args.dt is not None else meta.get("dt")
    origin = "--dt" if args.dt is not None else "the graph" if dt is not None else "none in the graph"
    print(f"{args.graph}: NIR graph of {len(rows)} nodes from {producer}; dt {dt} s ({origin})")
    width = max((len(p) for p, _, _ in rows), default=4)
    for path, kind, shape in rows:
        print(f"  {path:<{width}}  {kind:<10} input {shape}")
    model, paths = import_with_paths(graph, dt=args.dt, mode=args.mode)
    names = {module: node for node, module in paths.items()}
    mode = "sequence" if getattr(model, "is_sequence", True) else "step"
    params = sum(p.numel() for p in model.parameters()) + sum(b.numel() for b in model.buffers())
    print(f"neuro model: {type(model).__name__} ({mode} mode), {params:,} parameter values")
    if args.steps > 0:
        inputs = [n for n in graph.nodes.values() if type(n).__name__ == "Input"]
        shape = tuple(int(v) for v in inputs[0].input_type["input"])
        x = (torch.rand((args.steps, 1, *shape), generator=torch.Generator().manual_seed(0)) < args.rate).float()
        with torch.no_grad():
            trace = simulate(model, x, record=True)
        spikes = {names.get(k.rsplit(".", 1)[0], k.rsplit(".", 1)[0]): int(v.sum())
                  for k, v in trace.records.items() if k.endswith(".spikes")}
        shown = ", ".join(f"{k} {v}" for k, v in spikes.items()) or "no spiking layers"
        print(f"ran {args.steps} steps of random events (rate {args.rate}): output {tuple(trace.output.shape)}; "
              f"spikes: {shown}")
    return 0
