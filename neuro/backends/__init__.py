"""Backends: interchangeable implementations of neuro's hot operations, chosen at call time.

A backend is a module listed in :data:`BACKEND_MODULES` that defines

* ``OPS``: a dict from operation name (``"lif"``, ``"alif"``, ...) to an implementation, either a
  plain callable or an :class:`Impl` whose ``supports(*args)`` says whether it handles those inputs
  (device, dtype, options);
* optionally ``availability() -> str | None``: ``None`` when usable, else the reason it is not.

Backends are imported lazily; an import that fails for any reason (a missing or broken accelerator
library) makes that backend unavailable, never breaks ``import neuro``. The ``reference`` backend
(pure torch) implements every operation and is the executable specification that all other
backends are tested against.

Selection is scoped, like torch's ``sdpa_kernel``:

    >>> from neuro import backends
    >>> with backends.use("reference"):
    ...     pass  # every neuron in here runs on the reference backend

Outside any ``use`` block (or with ``use("auto")``) each call takes the first backend in
:data:`AUTO_ORDER` that is available and supports the inputs.

The CPU kernels write their large outputs into reused blocks (:mod:`neuro.backends._buffers`: no page
faults on every step); :func:`set_cpu_buffer_cache` bounds the free blocks kept (default 1 GiB, environment
``NEURO_CPU_BUFFER_CACHE_MB``, 0 turns reuse off), :func:`empty_cpu_cache` drops them and
:func:`cpu_buffer_bytes` reports ``(in use, free)`` bytes. On glibc the same limit is the allocator's trim
threshold (:mod:`neuro.backends._malloc`: freed heap memory stays for the next step instead of being faulted in
again), unless the environment sets glibc's ``MALLOC_*`` thresholds itself.
"""

from __future__ import annotations

import contextlib
import contextvars
import importlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from neuro.backends._buffers import cached_bytes as cpu_buffer_bytes
from neuro.backends._buffers import empty_cache as empty_cpu_cache
from neuro.backends._buffers import set_cache_limit as set_cpu_buffer_cache
from neuro.errors import BackendError, unknown_name

__all__ = ["AUTO_ORDER", "BACKEND_MODULES", "Impl", "available", "cpu_buffer_bytes", "current", "empty_cpu_cache",
           "resolve", "set_cpu_buffer_cache", "use"]

#: Every backend neuro knows, name -> module path. One line per backend.
BACKEND_MODULES: dict[str, str] = {
    "reference": "neuro.backends.reference",
    "fused": "neuro.backends.fused",
    "triton": "neuro.backends.triton_gpu",
}

#: Preference order of the automatic choice (fastest first; reference always last).
AUTO_ORDER: tuple[str, ...] = ("triton", "fused", "reference")


@dataclass(frozen=True)
class Impl:
    """An operation's implementation plus a predicate on its inputs."""

    fn: Callable[..., Any]
    supports: Callable[..., bool] = lambda *args, **kwargs: True


_selected: contextvars.ContextVar[tuple[str, bool]] = contextvars.ContextVar(
    "neuro_backend", default=("auto", False)
)
_loaded: dict[str, ModuleType | str] = {}


def _load(name: str) -> ModuleType | str:
    """The backend module, or a string saying why it is unavailable."""
    if name not in _loaded:
        try:
            module = importlib.import_module(BACKEND_MODULES[name])
            check = getattr(module, "availability", None)
            reason = check() if check is not None else None
            _loaded[name] = module if reason is None else reason
        except Exception as exc:  # a broken optional accelerator must not break neuro
            _loaded[name] = f"import failed: {type(exc).__name__}: {exc}"
    return _loaded[name]


def available() -> dict[str, str]:
    """Map each known backend to ``"available"`` or the reason it is not."""
    out = {}
    for name in BACKEND_MODULES:
        mod = _load(name)
        out[name] = "available" if isinstance(mod, ModuleType) else mod
    return out


@contextlib.contextmanager
def use(name: str, *, strict: bool = False) -> Iterator[None]:
    """Run the enclosed code on backend ``name`` (``"auto"`` restores the automatic choice).

    With ``strict=False`` an operation the backend lacks, or inputs it does not support, fall back
    to the automatic choice; with ``strict=True`` they raise :class:`BackendError`.
    """
    if name != "auto":
        if name not in BACKEND_MODULES:
            raise unknown_name("backend", name, [*BACKEND_MODULES, "auto"])
        mod = _load(name)
        if not isinstance(mod, ModuleType):
            raise BackendError(f"backend {name!r} is not available: {mod}")
    token = _selected.set((name, strict))
    try:
        yield
    finally:
        _selected.reset(token)


def current() -> str:
    """Name of the backend selected by the innermost :func:`use` (``"auto"`` if none)."""
    return _selected.get()[0]


def _impl(name: str, op: str) -> Impl | None:
    mod = _load(name)
    if not isinstance(mod, ModuleType):
        return None
    impl = mod.OPS.get(op)
    if impl is None or isinstance(impl, Impl):
        return impl
    return Impl(impl)


def resolve(op: str, *args: Any, fallback: str | None = None, **kwargs: Any) -> tuple[str, Callable[..., Any]]:
    """Pick the implementation of ``op`` for these inputs: ``(backend name, callable)``.

    ``fallback`` names a generic operation (such as the reference backend's ``"sequence"`` loop)
    used when no backend has a specialised ``op``.
    """
    name, strict = _selected.get()
    ops = (op,) if fallback is None else (op, fallback)
    if name != "auto":
        for candidate in ops:
            impl = _impl(name, candidate)
            if impl is not None and impl.supports(*args, **kwargs):
                return name, impl.fn
        if strict:
            raise BackendError(f"backend {name!r} does not implement operation {op!r} for these inputs")
    for candidate in ops:
        for auto in AUTO_ORDER:
            impl = _impl(auto, candidate)
            if impl is not None and impl.supports(*args, **kwargs):
                return auto, impl.fn
    raise BackendError(f"no available backend implements operation {op!r}")
