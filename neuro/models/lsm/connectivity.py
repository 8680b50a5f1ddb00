r"""Reservoir wiring: which synapses exist, their signs, and spectral-radius scaling.

A :class:`Connectivity` option object describes the recurrent wiring of ``n`` neurons; :func:`recurrent_mask`
draws it. Masks are ``(n_pre, n_post)`` booleans, the layout of :class:`~neuro.models.lsm.FixedSynapses`'s
weights (one row of fan-out per presynaptic neuron). Kinds:

* ``"dense"`` — every pair connected (the MemristorLSM reservoir, whose RRAM array stores the full matrix);
* ``"random"`` — each pair independently with probability ``p`` (Erdős–Rényi);
* ``"distance"`` — neurons on a ``grid`` (Maass, Natschläger & Markram 2002), pair ``(a, b)`` connected with
  probability :math:`C\,\exp(-(D(a,b)/\lambda)^2)`, :math:`D` the Euclidean distance between grid points and
  :math:`C` by the pair's types (``c_ee, c_ei, c_ie, c_ii``; only ``c_ee`` when there is no E/I split).

Dale's law (``excitatory_fraction`` in (0, 1]): a neuron's outgoing weights all share one sign, positive for the
first ``round(f n)`` neurons of a random permutation, negative for the rest; :func:`apply_dale` makes each weight
``±|w|`` by its presynaptic type (``inhibitory_gain`` scales the inhibitory ones).

Example:
    >>> import torch
    >>> g = torch.Generator().manual_seed(0)
    >>> m = recurrent_mask(100, Connectivity("random", p=0.1), generator=g)
    >>> m.shape, 0.05 < m.float().mean().item() < 0.15
    (torch.Size([100, 100]), True)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from neuro.errors import ConfigError

__all__ = ["Connectivity", "apply_dale", "excitatory_mask", "grid_positions", "input_mask", "recurrent_mask",
           "spectral_radius"]


@dataclass(frozen=True)
class Connectivity:
    r"""Recurrent wiring of a reservoir; see the module docstring.

    Args:
        kind: ``"dense"``, ``"random"`` or ``"distance"``.
        p: connection probability of ``"random"``.
        grid: grid shape of ``"distance"`` (its product must equal the number of neurons); empty = a cube-ish
            3-d grid chosen from ``n``.
        lam: length constant :math:`\lambda` of ``"distance"`` (grid units).
        c_ee, c_ei, c_ie, c_ii: ``"distance"`` scale :math:`C` by (pre, post) type (E→E, E→I, I→E, I→I);
            the Maass et al. 2002 values are the defaults.
        self_connections: allow ``w_ii`` (autapses).
        excitatory_fraction: Dale's law when > 0 (e.g. 0.8); 0 = weights keep the sign they were drawn with.
        inhibitory_gain: factor on the magnitude of inhibitory weights under Dale's law.
        spectral_radius: when > 0, the recurrent matrix is scaled to this spectral radius.
    """

    kind: Literal["dense", "random", "distance"] = "dense"
    p: float = 0.1
    grid: tuple[int, ...] = ()
    lam: float = 2.0
    c_ee: float = 0.3
    c_ei: float = 0.2
    c_ie: float = 0.4
    c_ii: float = 0.1
    self_connections: bool = False
    excitatory_fraction: float = 0.0
    inhibitory_gain: float = 1.0
    spectral_radius: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in ("dense", "random", "distance"):
            raise ConfigError(f"Connectivity.kind must be 'dense', 'random' or 'distance', got {self.kind!r}")
        if not 0.0 <= self.p <= 1.0:
            raise ConfigError(f"Connectivity.p must be in [0, 1], got {self.p!r}")
        if not 0.0 <= self.excitatory_fraction <= 1.0:
            raise ConfigError(f"Connectivity.excitatory_fraction must be in [0, 1], got {self.excitatory_fraction!r}")
        if self.lam <= 0 or self.spectral_radius < 0 or self.inhibitory_gain <= 0:
            raise ConfigError("Connectivity: lam and inhibitory_gain must be > 0 and spectral_radius >= 0")
        for name in ("c_ee", "c_ei", "c_ie", "c_ii"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(f"Connectivity.{name} must be a probability in [0, 1], got {getattr(self, name)!r}")


def grid_positions(shape: tuple[int, ...]) -> Tensor:
    """Integer coordinates of every point of a grid, row-major: ``(prod(shape), len(shape))`` float."""
    axes = [torch.arange(s, dtype=torch.float64) for s in shape]
    return torch.stack(torch.meshgrid(*axes, indexing="ij"), dim=-1).reshape(-1, len(shape))


def _default_grid(n: int) -> tuple[int, ...]:
    """A 3-d grid ``(a, b, c)`` with ``a * b * c == n``, as close to a cube as the factors of ``n`` allow."""
    best: tuple[int, ...] = (n, 1, 1)
    for a in range(1, round(n ** (1 / 3)) + 2):
        if n % a:
            continue
        rest = n // a
        for b in range(a, math.isqrt(rest) + 1):
            if rest % b == 0:
                cand = tuple(sorted((a, b, rest // b)))
                if max(cand) - min(cand) < max(best) - min(best):
                    best = cand
    return best


def excitatory_mask(n: int, fraction: float, generator: torch.Generator | None = None) -> Tensor:
    """Boolean ``(n,)``: which neurons are excitatory (``round(fraction * n)`` of them, at random)."""
    k = round(fraction * n)
    perm = torch.randperm(n, generator=generator)
    out = torch.zeros(n, dtype=torch.bool)
    out[perm[:k]] = True
    return out


def recurrent_mask(n: int, conn: Connectivity, excitatory: Tensor | None = None,
                   generator: torch.Generator | None = None) -> Tensor:
    """Draw the ``(n_pre, n_post)`` boolean mask of ``conn`` for ``n`` neurons.

    Args:
        excitatory: ``(n,)`` neuron types, used by ``"distance"`` to pick ``c_ee`` ... ``c_ii`` (all
            excitatory when ``None``).
    """
    if conn.kind == "dense":
        mask = torch.ones(n, n, dtype=torch.bool)
    elif conn.kind == "random":
        mask = torch.rand(n, n, generator=generator) < conn.p
    else:
        grid = conn.grid or _default_grid(n)
        if math.prod(grid) != n:
            raise ConfigError(f"Connectivity.grid {tuple(grid)} holds {math.prod(grid)} points, but the reservoir "
                              f"has {n} neurons")
        pos = grid_positions(tuple(grid))
        dist = torch.cdist(pos, pos)  # (n, n) Euclidean distance in grid units
        exc = torch.ones(n, dtype=torch.bool) if excitatory is None else excitatory
        c = torch.empty(n, n, dtype=torch.float64)
        pre, post = exc[:, None], exc[None, :]
        c[pre & post] = conn.c_ee
        c[pre & ~post] = conn.c_ei
        c[~pre & post] = conn.c_ie
        c[~pre & ~post] = conn.c_ii
        prob = c * torch.exp(-(dist / conn.lam) ** 2)
        mask = torch.rand(n, n, generator=generator, dtype=torch.float64) < prob
    if not conn.self_connections:
        mask.fill_diagonal_(False)
    return mask


def input_mask(n_in: int, n: int, p: float, generator: torch.Generator | None = None) -> Tensor:
    """``(n_in, n)`` boolean input wiring: all-to-all when ``p >= 1``, else each pair with probability ``p``."""
    if not 0.0 < p <= 1.0:
        raise ConfigError(f"input connection probability must be in (0, 1], got {p!r}")
    if p >= 1.0:
        return torch.ones(n_in, n, dtype=torch.bool)
    return torch.rand(n_in, n, generator=generator) < p


def apply_dale(w: Tensor, excitatory: Tensor, inhibitory_gain: float = 1.0) -> Tensor:
    """``(n_pre, n_post)`` weights with each row's sign set by its presynaptic type: ``+|w|`` for
    excitatory rows, ``-inhibitory_gain * |w|`` for inhibitory ones."""
    sign = torch.where(excitatory, 1.0, -float(inhibitory_gain)).to(w.dtype)
    return w.abs() * sign[:, None]


def spectral_radius(w: Tensor) -> float:
    """Largest eigenvalue modulus of a square matrix (computed in float64)."""
    if w.dim() != 2 or w.shape[0] != w.shape[1]:
        raise ConfigError(f"spectral_radius: expected a square matrix, got shape {tuple(w.shape)}")
    return float(torch.linalg.eigvals(w.detach().to(torch.float64)).abs().max())
