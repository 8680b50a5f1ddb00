r"""How snnTorch, Norse and SpikingJelly read and write NIR, and how neuro maps to them.

All three simulate NIR's continuous-time neurons with forward Euler at a time step of their own;
neuro writes its ``dt`` into every graph, so the only question is which step the peer uses and
which parameter shapes its importer accepts (checked against snnTorch 1.0.0, Norse 1.1.0,
SpikingJelly 2.0.0 with nir 1.0.8).

=================  ==========================================  ============================================
peer               its parameters -> NIR                       reading/writing NIR
=================  ==========================================  ============================================
snnTorch           ``Leaky(beta)``: ``tau = dt/(1-beta)``,      ``import_from_nir`` always uses
                   ``r = tau/dt`` (input added undecayed),      ``dt = 1e-4`` s: :func:`for_peer` retimes the
                   ``Synaptic(alpha, beta)``: also              graph (:func:`~neuro.interop.nir.retime`).
                   ``w_in = tau_syn/dt``. Spikes when           Its ``Flatten`` takes NIR's batch-free dims
                   ``mem > thr`` (neuro: ``>=``). Default       literally, so run the import one sample at a
                   reset is subtract *and* delayed              time (``B = 1``). ``r*dt/tau != 1`` is folded
                   (``LIF.from_snntorch``); NIR's reset is      into the threshold. Export needs
                   hard and immediate, and snnTorch exports     ``ignore_dims=[0]`` and per-neuron ``beta``/
                   every ``Leaky`` as that regardless.          ``threshold`` tensors; it writes no ``dt``
                                                                (it means ``1e-4`` s).
Norse              ``tau_mem_inv = 1/tau_mem``;                 ``from_nir(graph, dt)`` takes ``dt`` (default
                   ``LIFBoxCell`` is NIR ``LIF`` with           ``1e-3``); ``Flatten`` as in snnTorch (``B =
                   ``r = 1``; spikes when ``v > v_th``.         1``); no ``AvgPool2d``. Its ``to_nir`` writes
                                                                ``tau = dt/tau_mem_inv`` (``dt`` times too
                                                                small): :func:`from_peer` divides by ``dt``.
SpikingJelly       ``LIFNode(tau)``: ``tau`` in steps, NIR      ``import_from_nir(graph, dt)`` (default
                   ``tau = tau*dt``, ``r = 1`` (decay_input)    ``1e-4``) and ``export_to_nir(net, x, dt=...)``
                   or ``tau``; ``v_leak = v_reset``.            keep the batch right. Soft reset refused.
=================  ==========================================  ============================================

Example:
    >>> import torch
    >>> from neuro import LIF, Sequential
    >>> from neuro.interop.nir import to_nir
    >>> g = for_peer(to_nir(Sequential(torch.nn.Linear(2, 2), LIF()), torch.zeros(1, 1, 2)), "snntorch")
    >>> float(g.nodes["lif_1"].tau[0]), g.metadata["dt"]
    (0.0002, 0.0001)
"""

from __future__ import annotations

import copy
from typing import Any

import nir
import numpy as np
from torch import nn

from neuro.errors import unknown_name
from neuro.interop.nir.errors import NIRExportError, Problem
from neuro.interop.nir.import_ import from_nir
from neuro.interop.nir.params import plain
from neuro.interop.nir.retime import retime

__all__ = ["PEER_DT", "PEER_NODES", "for_peer", "from_peer"]

#: The simulation step each peer uses for NIR graphs (snnTorch: fixed; the others: their default).
PEER_DT: dict[str, float] = {"snntorch": 1e-4, "norse": 1e-3, "spikingjelly": 1e-4}

#: NIR node types each peer's importer maps (everything else it drops or rejects).
PEER_NODES: dict[str, frozenset[type]] = {
    "snntorch": frozenset({nir.Affine, nir.Linear, nir.Conv2d, nir.Flatten, nir.AvgPool2d, nir.LIF, nir.CubaLIF}),
    "norse": frozenset({nir.Affine, nir.Linear, nir.Conv2d, nir.Flatten, nir.SumPool2d, nir.IF, nir.LIF,
                        nir.CubaLIF}),
    "spikingjelly": frozenset({nir.Affine, nir.Linear, nir.Conv1d, nir.Conv2d, nir.AvgPool2d, nir.Flatten, nir.IF,
                               nir.LIF, nir.CubaLIF}),
}


def _walk(graph: nir.NIRGraph, prefix: str = ""):
    for name, node in graph.nodes.items():
        path = f"{prefix}.{name}" if prefix else name
        if isinstance(node, nir.NIRGraph):
            yield from _walk(node, path)
        elif not isinstance(node, nir.Input | nir.Output):
            yield path, node


def _check(graph: nir.NIRGraph, peer: str) -> None:
    problems = []
    for path, node in _walk(graph):
        if type(node) not in PEER_NODES[peer]:
            problems.append(Problem(path, type(node).__name__, f"{peer}'s NIR importer has no mapping for it", ""))
        elif peer == "snntorch" and isinstance(node, nir.LIF | nir.CubaLIF):
            if not np.allclose(node.v_leak, 0.0):
                problems.append(Problem(path, type(node).__name__, "snnTorch requires v_leak = 0", ""))
            if np.unique(node.v_threshold).size != 1:
                problems.append(Problem(path, type(node).__name__, "snnTorch requires one threshold per layer", ""))
    if problems:
        raise NIRExportError(problems)


def for_peer(graph: nir.NIRGraph, peer: str) -> nir.NIRGraph:
    """A copy of ``graph`` ready for ``peer``'s importer (retimed to its step where it is fixed).

    Raises :class:`~neuro.interop.nir.NIRExportError` listing the nodes the peer cannot read.
    Pass the result to ``snntorch.import_from_nir(g)``, ``norse.torch.from_nir(g, dt=g.metadata["dt"])``
    or SpikingJelly's ``import_from_nir(g, dt=g.metadata["dt"])``.
    """
    if peer not in PEER_DT:
        raise unknown_name("peer", peer, PEER_DT)
    _check(graph, peer)
    return retime(graph, PEER_DT[peer]) if peer == "snntorch" else copy.deepcopy(graph)


def _repair_norse(graph: nir.NIRGraph, dt: float) -> None:
    """Norse's ``to_nir`` writes ``tau = dt / tau_inv``; the time constant is ``1 / tau_inv``."""
    for _, node in _walk(graph):
        for field in ("tau", "tau_mem", "tau_syn"):
            if isinstance(node, nir.LIF | nir.LI | nir.CubaLIF) and hasattr(node, field):
                setattr(node, field, np.asarray(getattr(node, field), dtype=np.float64) / dt)


def from_peer(graph: nir.NIRGraph, peer: str, dt: float | None = None, **kwargs: Any) -> nn.Module:
    """Import a graph written by ``peer``'s exporter, with the step it meant (default :data:`PEER_DT`).

    For Norse the time constants are repaired first (see the module docstring).
    """
    if peer not in PEER_DT:
        raise unknown_name("peer", peer, PEER_DT)
    dt = float(dt if dt is not None else plain(graph.metadata or {}).get("dt", PEER_DT[peer]))
    if peer == "norse":
        graph = copy.deepcopy(graph)
        _repair_norse(graph, dt)
    return from_nir(graph, dt=dt, **kwargs)
