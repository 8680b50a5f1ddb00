"""The ``neuro`` command line.

Each sub-command lives in its own module of this package and exposes ``register(subparsers)``,
which adds its parser and sets ``func`` (called with the parsed namespace, returning an exit code).
Adding a command is one file plus one line in :data:`COMMANDS`.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from neuro.errors import NeuroError

#: Sub-command modules, in the order ``neuro --help`` lists them.
COMMANDS: tuple[str, ...] = (
    "neuro.cli.run",
    "neuro.cli.doctor",
    "neuro.cli.energy",
    "neuro.cli.data",
    "neuro.cli.export",
    "neuro.cli.import_",
    "neuro.cli.audio",
    "neuro.cli.bench",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="neuro", description="neuro: spiking neural network simulator")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``neuro`` console script."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except NeuroError as exc:
        print(f"neuro {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
