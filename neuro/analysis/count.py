"""``count_ops``: run a model once with forward hooks and return its per-layer operation counts.

The hooks write into a local accumulator that becomes the returned :class:`OpCounts`; nothing is
stored on the model and every hook is removed afterwards, even when the run fails.

Example:
    >>> import torch, neuro
    >>> net = neuro.Sequential(torch.nn.Linear(4, 3), neuro.LIF())
    >>> counts = count_ops(net, torch.ones(5, 2, 4))
    >>> counts["0"].macs, counts["0"].synops, counts["1"].state_updates
    (60.0, 60.0, 15.0)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import Tensor, nn

from neuro.analysis.counters import Counter, counter_for
from neuro.analysis.ops import SUM_FIELDS, CallOps, CountOptions, LayerOps, OpCounts
from neuro.core.simulate import simulate
from neuro.core.time_distributed import TimeDistributed
from neuro.errors import ConfigError, ShapeError

__all__ = ["RUNNERS", "count_ops"]


def _run_auto(model: nn.Module, x: Tensor) -> Any:
    """neuro models (``stateful`` or ``is_sequence`` declared) through :func:`neuro.simulate`, anything
    else (plain torch, SpikingJelly multi-step) as one call ``model(x)``."""
    if hasattr(model, "is_sequence") or getattr(model, "stateful", False):
        return simulate(model, x).output
    return model(x)


def _run_steps(model: nn.Module, x: Tensor) -> Any:
    """One call per time step, ``model(x[t])`` (snnTorch ``init_hidden`` nets, SpikingJelly single-step)."""
    return [model(x_t) for x_t in x.unbind(0)]


#: How to drive a model over a time-major input: ``run=`` accepts one of these names or a callable.
RUNNERS: dict[str, Callable[[nn.Module, Tensor], Any]] = {
    "auto": _run_auto,
    "simulate": lambda model, x: simulate(model, x).output,
    "sequence": lambda model, x: model(x),
    "steps": _run_steps,
}


def _layer_names(model: nn.Module) -> dict[int, str]:
    """Module id -> reported name; the inner module of a ``TimeDistributed`` takes its wrapper's name."""
    names: dict[int, str] = {}
    for name, module in model.named_modules():
        if isinstance(module, TimeDistributed):
            names[id(module.module)] = name or type(model).__name__
        elif id(module) not in names:
            names[id(module)] = name or type(model).__name__
    return names


def count_ops(model: nn.Module, inputs: Tensor, *, run: str | Callable[[nn.Module, Tensor], Any] = "auto",
              time_steps: int | None = None, batch_size: int | None = None,
              options: CountOptions | None = None,
              counters: Mapping[type | str, Counter] | None = None) -> OpCounts:
    """Count the operations of one run of ``model`` on ``inputs``.

    Args:
        model: a neuro model, a plain torch module, an snnTorch or a SpikingJelly network.
        inputs: time-major ``(T, B, ...)`` input (see ``time_steps``/``batch_size`` otherwise).
        run: how to drive the model (a name in :data:`RUNNERS` or ``fn(model, inputs)``); reset any
            hidden state of peer-library models (``snntorch.utils.reset``, SpikingJelly
            ``functional.reset_net``) before counting.
        time_steps: T, if ``inputs`` is not time-major (default ``inputs.shape[0]``).
        batch_size: B (default ``inputs.shape[1]``); every count is divided by it.
        options: bit widths for the byte counts.
        counters: extra ``{type or dotted class name: counter}`` consulted before the built-ins.

    Returns:
        :class:`OpCounts` with one :class:`LayerOps` per counted module, in first-call order.
    """
    if not isinstance(inputs, Tensor) or (inputs.dim() < 2 and (time_steps is None or batch_size is None)):
        shape = tuple(inputs.shape) if isinstance(inputs, Tensor) else type(inputs).__name__
        raise ShapeError(f"count_ops: expected a time-major input (T, B, ...), got {shape}")
    t = int(time_steps if time_steps is not None else inputs.shape[0])
    b = int(batch_size if batch_size is not None else inputs.shape[1])
    if t < 1 or b < 1:
        raise ShapeError(f"count_ops: time_steps and batch_size must be >= 1, got T={t}, B={b}")
    if isinstance(run, str):
        if run not in RUNNERS:
            raise ConfigError(f"count_ops: unknown run mode {run!r}; expected one of {', '.join(RUNNERS)} "
                              f"or a callable")
        runner = RUNNERS[run]
    else:
        runner = run
    options = options or CountOptions()
    names = _layer_names(model)
    acc: dict[str, dict[str, Any]] = {}

    def make_hook(name: str, counter: Counter) -> Callable[..., None]:
        def hook(mod: nn.Module, args: tuple[Any, ...], output: Any) -> None:
            ops = counter(mod, args, output, options)
            if not isinstance(ops, CallOps):
                raise TypeError(f"count_ops: the counter of {name!r} returned {type(ops).__name__}, "
                                f"expected CallOps")
            entry = acc.get(name)
            if entry is None:
                entry = acc[name] = {"name": name, "module": type(mod).__name__, "kind": ops.kind, "calls": 0,
                                     "input_binary": True, "state_vars": ops.state_vars, "params": ops.params,
                                     **dict.fromkeys(SUM_FIELDS, 0.0)}
            entry["calls"] += 1
            entry["input_binary"] = entry["input_binary"] and ops.input_binary
            for field in SUM_FIELDS:
                entry[field] += float(getattr(ops, field))
        return hook

    handles = []
    try:
        for module in model.modules():
            counter = counter_for(module, counters)
            if counter is not None:
                name = names[id(module)]
                handles.append(module.register_forward_hook(make_hook(name, counter)))
        with torch.no_grad():
            runner(model, inputs)
    finally:
        for handle in handles:
            handle.remove()
    layers = []
    for entry in acc.values():
        for field in SUM_FIELDS:
            entry[field] /= b
        layers.append(LayerOps(time_steps=t, **entry))
    return OpCounts(tuple(layers), t, b, options)
