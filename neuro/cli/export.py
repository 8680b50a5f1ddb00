"""``neuro export SOURCE --format nir -o model.nir``: export a trained model, verified by a round trip.

``SOURCE`` is a checkpoint (``checkpoint.safetensors``), a run folder holding one, or an experiment
TOML (its run folder ``<runs>/<name>/`` is used). Batch norm is folded into the preceding layer
(``--no-fold-batchnorm`` to refuse instead). Unless ``--no-verify``, the graph is written to HDF5,
read back, re-imported and simulated beside the original on the first ``--batch`` samples of the
experiment's test split (``--check-input test``), on seeded random events (``events``), or, by
default, on the test split when its files are present and on events otherwise. Any spike that
differs (or a membrane off by more than ``--atol``) prints the per-layer report and exits with 1
without writing the file.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

FORMATS = ("nir",)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="export a trained model (NIR), verified by a round trip",
                       description=__doc__.split("\n\n", 1)[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("source", help="checkpoint file, run folder, or experiment TOML")
    p.add_argument("--format", default="nir", choices=FORMATS, help="exchange format (default: nir)")
    p.add_argument("-o", "--output", required=True, help="file to write, e.g. model.nir")
    p.add_argument("--runs", default="runs", help="root of run folders, for an experiment TOML (default: runs)")
    p.add_argument("--no-fold-batchnorm", dest="fold", action="store_false",
                   help="report BatchNorm as unsupported instead of folding it")
    p.add_argument("--no-verify", dest="verify", action="store_false", help="skip the round-trip check")
    p.add_argument("--check-input", default="auto", choices=("auto", "test", "events"),
                   help="input of the check: the experiment's test samples, random events, or auto")
    p.add_argument("--steps", type=int, default=50, help="time steps of random events (default: 50)")
    p.add_argument("--batch", type=int, default=4, help="samples in the check input (default: 4)")
    p.add_argument("--rate", type=float, default=0.2, help="event probability per input element and step")
    p.add_argument("--seed", type=int, default=0, help="seed of the check input")
    p.add_argument("--atol", type=float, default=1e-6, help="tolerance on membranes (spikes must be identical)")
    p.add_argument("--check-dtype", default="float64", choices=("float64", "float32"),
                   help="precision of the check (default: float64)")
    p.set_defaults(func=run)


def load_source(source: str | Path, runs: str | Path = "runs") -> tuple[Any, Any, tuple[int, ...], Path]:
    """The model, its experiment, its per-step input shape and the checkpoint it came from."""
    from neuro.errors import CheckpointError
    from neuro.experiment import build_from_checkpoint, load_experiment
    from neuro.training import CHECKPOINT_NAME, load_checkpoint

    path = Path(source)
    if path.suffix == ".toml":
        exp = load_experiment(path)
        path = Path(runs) / exp.name
        if not (path / CHECKPOINT_NAME).is_file():
            raise CheckpointError(f"experiment {exp.name!r} has no checkpoint at {path / CHECKPOINT_NAME}; "
                                  f"train it first: neuro run {source}")
    ckpt_path = path / CHECKPOINT_NAME if path.is_dir() else path
    model, exp = build_from_checkpoint(ckpt_path)
    shape = load_checkpoint(ckpt_path).config.get("input_shape")
    if not shape:
        raise CheckpointError(f"{ckpt_path}: stores no input_shape; cannot build a sample input")
    return model, exp, tuple(int(s) for s in shape), ckpt_path


def check_input(args: argparse.Namespace, exp: Any, shape: tuple[int, ...]) -> tuple[Any, str]:
    """The input of the round-trip check and a description of it."""
    import torch

    from neuro.errors import NeuroError

    if args.check_input in ("auto", "test"):
        try:
            from neuro.data import build_dataset, collate_time_major

            cfg = exp.settings
            data = build_dataset({**cfg.data, **getattr(cfg, "test_data", {})}, "test")
            n = min(args.batch, len(data))
            x, _ = collate_time_major([data[i] for i in range(n)])
            return x, f"the first {n} samples of the test split of {cfg.data.get('name')!r}"
        except (NeuroError, OSError) as exc:
            if args.check_input == "test":
                raise
            reason = f"test split unavailable ({type(exc).__name__}: {exc})"
    else:
        reason = "--check-input events"
    gen = torch.Generator().manual_seed(args.seed)
    x = (torch.rand((args.steps, args.batch, *shape), generator=gen) < args.rate).to(torch.get_default_dtype())
    return x, f"{args.batch} x {args.steps} steps of random events (rate {args.rate}, seed {args.seed}; {reason})"


def run(args: argparse.Namespace) -> int:
    import nir
    import torch

    from neuro.errors import ConfigError
    from neuro.interop.nir import to_nir, verify_roundtrip

    if args.steps < 1 or args.batch < 1 or not 0.0 <= args.rate <= 1.0:
        raise ConfigError("--steps and --batch must be >= 1 and --rate in [0, 1]")
    model, exp, shape, ckpt = load_source(args.source, args.runs)
    print(f"loaded {ckpt}: input {shape} per step")
    if not args.verify:
        x = torch.zeros((1, 1, *shape))
        graph = to_nir(model, x, fold_batchnorm=args.fold)
        nir.write(args.output, graph)
        print(f"wrote {args.output} ({len(graph.nodes) - 2} nodes, not verified)")
        return 0
    x, described = check_input(args, exp, shape)
    report = verify_roundtrip(model, x, fold_batchnorm=args.fold, dtype=getattr(torch, args.check_dtype),
                              atol=args.atol)
    print(f"round trip on {described}:")
    if not report.ok:
        print(report, file=sys.stderr)
        print(f"neuro export: error: the re-imported graph diverges from the model; {args.output} not written",
              file=sys.stderr)
        return 1
    print(report)
    silent = [layer.node for layer in report.layers if layer.kind != "LI" and layer.spikes == 0]
    if silent:
        print(f"note: {', '.join(silent)} never spiked on this input, so their check is weak")
    nir.write(args.output, report.graph)
    print(f"wrote {args.output} ({len(report.graph.nodes) - 2} nodes, dt {report.graph.metadata.get('dt', '?')} s)")
    return 0
