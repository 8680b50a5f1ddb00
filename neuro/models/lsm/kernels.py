"""Reservoir time loops: the torch reference and an optional fused numba kernel, picked per call.

Both compute the update of :mod:`neuro.models.lsm.reservoir` for exact (pre-read) weights:

* :func:`run_torch` — the executable specification: all input currents in one event-driven product
  (:func:`~neuro.models.lsm.synapses.event_matmul`), then a Python loop over steps with an event-driven
  recurrent product.
* :func:`run_numba` — one compiled kernel, parallel over samples: it scans each input row once, adds the
  fan-out rows of the active inputs, adds the fan-out *lists* of last step's spikes (only existing synapses
  when the recurrent matrix is sparse) and updates the membranes, with no temporaries and no per-step Python.
  Sums run in the same order as the reference (ascending presynaptic index), so results agree to rounding.

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
    import numba
    import numpy as np

    @numba.njit(parallel=True, cache=True)
    def _kernel(x, w_in, rec_ptr, rec_idx, rec_val, w_rec, sparse_rec, has_rec, v0, s0, decay, vth, vreset,
                subtract, out, v_out, vs, record_v):  # pragma: no cover - compiled
        steps, batch, n_in = x.shape
        n = w_in.shape[1]
        for b in numba.prange(batch):
            v = v0[b].copy()
            cur = np.empty(n, dtype=w_in.dtype)
            rec = np.empty(n, dtype=w_in.dtype)
            active = np.empty(n, dtype=np.int64)
            n_act = 0
            for i in range(n):
                if s0[b, i] != 0:
                    active[n_act] = i
                    n_act += 1
            events = np.empty(n_in, dtype=np.int64)
            for t in range(steps):
                xr = x[t, b]
                n_ev = 0
                for j in range(n_in):  # the row's events first: a tight scan, then one fan-out row per event
                    if xr[j] != 0:
                        events[n_ev] = j
                        n_ev += 1
                cur[:] = 0
                for e in range(n_ev):
                    j = events[e]
                    xv = xr[j]
                    wr = w_in[j]
                    if xv == 1:
                        for i in range(n):
                            cur[i] += wr[i]
                    else:
                        for i in range(n):
                            cur[i] += xv * wr[i]
                if has_rec and n_act > 0:
                    rec[:] = 0
                    if sparse_rec:
                        for a in range(n_act):
                            j = active[a]
                            for k in range(rec_ptr[j], rec_ptr[j + 1]):
                                rec[rec_idx[k]] += rec_val[k]
                    else:
                        for a in range(n_act):
                            j = active[a]
                            for i in range(n):
                                rec[i] += w_rec[j, i]
                    for i in range(n):
                        cur[i] += rec[i]
                n_act = 0
                for i in range(n):
                    h = cur[i] + decay * v[i]
                    if h >= vth:
                        out[t, b, i] = 1
                        active[n_act] = i
                        n_act += 1
                        h = h - vth if subtract else vreset
                    else:
                        out[t, b, i] = 0
                    v[i] = h
                    if record_v:
                        vs[t, b, i] = h
            v_out[b] = v

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
    dtype = w_in.dtype
    xn = x.to(dtype).contiguous().numpy()
    steps, batch, _ = xn.shape
    n = w_in.shape[1]
    out = torch.empty(steps, batch, n, dtype=dtype)
    v_out = torch.empty(batch, n, dtype=dtype)
    vs = torch.empty(steps, batch, n, dtype=dtype) if record_v else torch.empty(1, 1, 1, dtype=dtype)
    has_rec = w_rec is not None
    rec = w_rec if has_rec else torch.zeros(1, n, dtype=dtype)
    sparse = has_rec and float((rec != 0).float().mean()) < 0.5
    if sparse:
        rows, idx = rec.nonzero().unbind(1)  # row-major: the fan-out list of each presynaptic neuron
        ptr = torch.zeros(n + 1, dtype=torch.int64)
        ptr[1:] = torch.bincount(rows, minlength=rec.shape[0]).cumsum(0)
        val = rec[rows, idx]
    else:
        ptr, idx = torch.zeros(2, dtype=torch.int64), torch.zeros(1, dtype=torch.int64)
        val = torch.zeros(1, dtype=dtype)
    _kernel(xn, w_in.contiguous().numpy(), ptr.numpy(), idx.numpy(), val.contiguous().numpy(),
            rec.contiguous().numpy(), sparse, has_rec, v.to(dtype).contiguous().numpy(),
            s.to(dtype).contiguous().numpy(), float(decay), float(v_threshold), float(v_reset), bool(subtract),
            out.numpy(), v_out.numpy(), vs.numpy(), bool(record_v))
    return out, v_out, vs if record_v else None


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
