"""Errors of the NIR exchange: every unsupported operation of a model (or node of a graph) in one message.

Example:
    >>> err = NIRExportError([Problem("3", "MaxPool2d", "NIR has no max-pooling", "use AvgPool2d")])
    >>> print(err)
    cannot export to NIR: 1 unsupported operation
      - '3' (MaxPool2d): NIR has no max-pooling. Fix: use AvgPool2d
"""

from __future__ import annotations

from typing import NamedTuple

from neuro.errors import NeuroError

__all__ = ["NIRExportError", "NIRImportError", "Problem", "Unsupported"]


class Problem(NamedTuple):
    """One operation that cannot be converted: where, what, why and the fix (``""`` when none exists)."""

    path: str
    kind: str
    reason: str
    fix: str = ""

    def __str__(self) -> str:
        fix = f". Fix: {self.fix}" if self.fix else ". No automatic fix"
        return f"'{self.path}' ({self.kind}): {self.reason}{fix}"


class Unsupported(Exception):
    """Raised by a single converter; the walker turns it into a :class:`Problem` and carries on."""

    def __init__(self, reason: str, fix: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.fix = fix


def _listing(head: str, problems: list[Problem], noun: str) -> str:
    s = "" if len(problems) == 1 else "s"
    return "\n".join([f"{head}: {len(problems)} unsupported {noun}{s}", *(f"  - {p}" for p in problems)])


class NIRExportError(NeuroError, ValueError):
    """A model holds operations NIR cannot represent; ``problems`` lists all of them."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = list(problems)
        super().__init__(_listing("cannot export to NIR", self.problems, "operation"))


class NIRImportError(NeuroError, ValueError):
    """A NIR graph holds nodes neuro cannot simulate (or lacks what it needs); ``problems`` lists all."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = list(problems)
        super().__init__(_listing("cannot import NIR graph", self.problems, "node"))
