"""Exception types raised at neuro's boundaries.

Every error names what was wrong (the file, key, shape or name) and what was expected. Catch
:class:`NeuroError` to handle any of them; the subclasses also derive from the builtin exception a
caller would naturally expect (``ValueError``, ``KeyError`` ...), so generic handlers keep working.
"""

from __future__ import annotations


class NeuroError(Exception):
    """Base class of every error neuro raises on purpose."""


class ConfigError(NeuroError, ValueError):
    """A configuration key is unknown, missing or of the wrong type."""


class ShapeError(NeuroError, ValueError):
    """A tensor has the wrong rank or shape."""


class UnknownNameError(NeuroError, KeyError):
    """A name (neuron, surrogate, backend, chip, dataset ...) is not in its registry."""

    def __str__(self) -> str:  # KeyError quotes its argument; keep the message readable
        return str(self.args[0]) if self.args else ""


class CheckpointError(NeuroError, ValueError):
    """A checkpoint file is missing, corrupt or does not match the model."""


class DataFormatError(NeuroError, ValueError):
    """An event or data file is truncated, corrupt or not in the expected layout."""


class BackendError(NeuroError, RuntimeError):
    """A backend is unavailable or does not implement an operation."""


def unknown_name(kind: str, name: object, known: object) -> UnknownNameError:
    """Build the error for a name missing from a registry, listing the valid names."""
    names = ", ".join(sorted(map(str, known)))  # type: ignore[call-overload]
    return UnknownNameError(f"unknown {kind} {name!r}; expected one of: {names}")
