r"""Rescale a NIR graph to another simulation step without changing its discrete-time behaviour.

A neuro model at step ``dt`` is exactly a forward-Euler run of its NIR graph at ``dt``. A tool that
always simulates at its own fixed step ``dt'`` (snnTorch's ``import_from_nir`` uses ``1e-4`` s)
reproduces the same per-step dynamics if every time scale is multiplied by :math:`k = dt'/dt`:
``tau``, ``tau_syn``, ``tau_mem`` and ``delay`` scale by ``k``, the IF's ``r`` by ``1/k`` (its
per-step gain is ``r * dt``), and the decays :math:`dt/\tau` and gains are unchanged. Only the
graph's physical time axis changes, so use this for tools with a fixed ``dt``, not to change a
model's behaviour.

Example:
    >>> import nir, numpy as np
    >>> g = nir.NIRGraph.from_list(nir.LIF(tau=np.full(2, 2e-3), r=np.ones(2), v_leak=np.zeros(2),
    ...                                    v_threshold=np.ones(2)))
    >>> g.metadata = {"dt": 1e-3}
    >>> fast = retime(g, 1e-4)
    >>> fast.nodes["lif"].tau.tolist(), fast.metadata["dt"]
    ([0.0002, 0.0002], 0.0001)
"""

from __future__ import annotations

import copy

import nir

from neuro.errors import ConfigError
from neuro.interop.nir.params import plain

__all__ = ["retime"]

_TAUS = {nir.LIF: ("tau",), nir.LI: ("tau",), nir.CubaLIF: ("tau_syn", "tau_mem"), nir.CubaLI: ("tau_syn", "tau_mem"),
         nir.Delay: ("delay",)}
_RATES = {nir.IF: ("r",), nir.I: ("r",)}


def _retime(graph: nir.NIRGraph, dt: float, old: float | None, path: str) -> None:
    meta = plain(graph.metadata) if isinstance(graph.metadata, dict) else {}
    old = meta.get("dt", old)
    if "dt" in meta:
        graph.metadata["dt"] = dt
    for name, node in graph.nodes.items():
        where = f"{path}.{name}" if path else name
        if isinstance(node, nir.NIRGraph):
            _retime(node, dt, old, where)
            continue
        fields = _TAUS.get(type(node), ()) + _RATES.get(type(node), ())
        if not fields:
            continue
        node_dt = plain(node.metadata or {}).get("dt", old)
        if node_dt is None:
            raise ConfigError(f"retime: node '{where}' ({type(node).__name__}) has no dt in its or its graph's "
                              "metadata; pass from_dt=<seconds>")
        k = dt / float(node_dt)
        for f in _TAUS.get(type(node), ()):
            setattr(node, f, getattr(node, f) * k)
        for f in _RATES.get(type(node), ()):
            setattr(node, f, getattr(node, f) / k)
        node.metadata = {**(node.metadata or {}), "dt": dt}


def retime(graph: nir.NIRGraph, dt: float, *, from_dt: float | None = None) -> nir.NIRGraph:
    """A copy of ``graph`` whose Euler simulation at ``dt`` equals the original's at its own step.

    Args:
        graph: the graph; each node's step is its ``metadata["dt"]``, else its graph's, else ``from_dt``.
        dt: the new simulation step in seconds.
        from_dt: the original step, for graphs that carry none.
    """
    if not dt > 0:
        raise ConfigError(f"retime: dt must be > 0 seconds, got {dt!r}")
    out = copy.deepcopy(graph)
    if not isinstance(out.metadata, dict):
        out.metadata = {}
    if from_dt is not None and "dt" not in out.metadata:
        out.metadata["dt"] = from_dt
    _retime(out, float(dt), from_dt, "")
    return out
