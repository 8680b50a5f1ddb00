"""Reservoir time loops: the torch reference and an optional fused numba kernel, picked per call.

Both compute the update of :mod:`neuro.models.lsm.reservoir` for exact (pre-read) weights:

* :func:`run_torch` — the executable specification: all input currents in one event-driven product
  (:func:`~neuro.models.lsm.synapses.event_matmul`), then a Python loop over steps with an event-driven
  recurrent product.
* :func:`run_numba` — the same input currents, then the event-driven recurrent kernel of
  :mod:`neuro.backends._numba_recurrent`, which :class:`~neuro.layers.RecurrentLIF` runs too: blocks of
  samples in lockstep, last step's spikes adding their fan-outs (whole rows of a recurrent matrix at least 5%
  dense, else the lists of its existing synapses) or, when the spikes are many, each neuron pulling its fan-in
  for the whole block, no per-step Python.
  Recurrent sums run in ascending presynaptic order, so results agree with the reference to rounding.

:data:`KERNELS` holds both as :class:`neuro.backends.Impl`; :func:`select` takes the first that is available
and supports the inputs, in the order of :data:`AUTO_ORDER` — except inside
``neuro.backends.use("reference")``, which pins the torch specification.

Example:
    >>> import torch
    >>> w_in, w_rec = torch.eye(2), torch.zeros(2, 2)
    >>> spikes, v, _ = run_torch(torch.ones(3, 1, 2), w_in, w_rec, torch.zeros(1, 2), torch.zeros(1, 2),
    ...                          decay=0.5, v_threshold=1.5, v_reset=0.0, subtract=False)
    >>> spikes[:, 0, 0].tolist()
    [0.0, 1.0, 0.0]
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from neuro import backends
from neuro.backends import Impl
from neuro.models.lsm.synapses import event_matmul

__all__ = ["AUTO_ORDER", "KERNELS", "numba_available", "run_numba", "run_torch", "select"]


def run_torch(x: Tensor, w_in: Tensor, w_rec: Tensor | None, v: Tensor, s: Tensor, *, decay: float,
              v_threshold: float, v_reset: float, subtract: bool, record_v: bool = False,
              dense_above: float = 0.1) -> tuple[Tensor, Tensor, Tensor | None]:
    """``(spikes (T, B, n), final v (B, n), v over time or None)`` for input ``x`` ``(T, B, n_in)``."""
    steps = x.shape[0]
    currents = event_matmul(x.reshape(-1, x.shape[-1]), w_in, dense_above).reshape(steps, x.shape[1], -1)
    out = currents.new_empty(currents.shape)
    vs = currents.new_empty(currents.shape) if record_v else None
    rec_active = w_rec is not None and bool(s.any())
    for t in range(steps):
        h = currents[t]  # a row of a temporary buffer: updated in place
        if rec_active:
            h = h + event_matmul(s, w_rec, dense_above)
        h.add_(v, alpha=decay)  # h = decay v + I
        fired = h >= v_threshold
        if subtract:
            h.sub_(fired.to(h.dtype), alpha=v_threshold)
        else:
            h.masked_fill_(fired, v_reset)
        v = h
        out[t] = fired
        s = out[t]
        rec_active = w_rec is not None
        if vs is not None:
            vs[t] = v
    return out, v.clone(), vs


try:  # optional accelerator: neuro imports and runs without numba
    from neuro.backends import _numba_recurrent

    _NUMBA: str | None = None
except Exception as exc:  # numba missing or broken
    _NUMBA = f"numba unavailable: {type(exc).__name__}: {exc}"


def numba_available() -> str | None:
    """``None`` when the numba kernel can run, else why not."""
    return _NUMBA


def run_numba(x: Tensor, w_in: Tensor, w_rec: Tensor | None, v: Tensor, s: Tensor, *, decay: float,
              v_threshold: float, v_reset: float, subtract: bool, record_v: bool = False,
              dense_above: float = 0.1) -> tuple[Tensor, Tensor, Tensor | None]:
    """Same contract as :func:`run_torch`, on CPU float32/float64 tensors, through the compiled kernel."""
    import numpy as np

    dtype = w_in.dtype
    npd = torch.empty(0, dtype=dtype).numpy().dtype
    c = np.array([decay, 0.0, 1.0, v_threshold, v_reset], dtype=npd)
    rec = None if w_rec is None else w_rec.detach().t().contiguous().numpy()  # (post, pre)
    steps, batch = x.shape[:2]
    currents = event_matmul(x.reshape(steps * batch, -1), w_in, dense_above).reshape(steps, batch, -1)
    out, v_out, vs = _numba_recurrent.run(
        currents.contiguous().numpy(), v.detach().to(dtype).contiguous().numpy(),
        s.detach().to(dtype).contiguous().numpy(), rec, c, 1 if subtract else 0, record_v, torch.get_num_threads())
    return torch.from_numpy(out), torch.from_numpy(v_out), None if vs is None else torch.from_numpy(vs)


def _numba_supports(x: Tensor, w_in: Tensor, *args: Any, **kwargs: Any) -> bool:
    return (_NUMBA is None and x.device.type == "cpu" and w_in.device.type == "cpu"
            and w_in.dtype in (torch.float32, torch.float64))


#: Reservoir loops, name -> implementation. One line per kernel.
KERNELS: dict[str, Impl] = {
    "numba": Impl(run_numba, _numba_supports),
    "torch": Impl(run_torch),
}
#: Preference order of the automatic choice (the torch specification last).
AUTO_ORDER: tuple[str, ...] = ("numba", "torch")


def select(*args: Any, **kwargs: Any) -> tuple[str, Any]:
    """``(name, fn)`` of the loop to run for these inputs (``backends.use("reference")`` pins ``"torch"``)."""
    if backends.current() == "reference":
        return "torch", run_torch
    for name in AUTO_ORDER:
        impl = KERNELS[name]
        if impl.supports(*args, **kwargs):
            return name, impl.fn
    return "torch", run_torch
