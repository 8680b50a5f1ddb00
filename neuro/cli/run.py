"""``neuro run EXPERIMENT.toml [--set key=value ...]``: run an experiment, writing ``runs/<name>/``."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="run an experiment defined in TOML",
                       description="Run an experiment (experiments/*.toml) and write runs/<name>/.")
    p.add_argument("experiment", help="path of the experiment TOML file")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. --set train.epochs=2 (repeatable)")
    p.add_argument("--out", default="runs", help="root folder of run outputs (default: runs)")
    p.add_argument("--resume", action="store_true", help="continue from the run's last checkpoint")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from neuro.experiment import load_experiment, run_experiment

    exp = load_experiment(args.experiment, args.overrides)
    run_experiment(exp, args.out, resume=args.resume)
    return 0
