"""``neuro energy TARGET --chip NAME``: energy of a model on chips, from real operation counts.

``TARGET`` is a checkpoint (``checkpoint.safetensors``), a run directory holding one, or an experiment
TOML (untrained weights: its spikes, and so its energy, are not those of a trained model). Inputs
are the experiment's test samples (``--input data``), or Bernoulli spikes (``--input bernoulli``)
when no data is at hand. Writes ``energy.json`` (counts and every report) and ``energy.png``
(per-layer stacked bars) to ``--out``.

The face of the project: this module is where ``neuro`` meets ``hardware_models`` (imported inside
the command, never by the engine).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import torch

from neuro.errors import ConfigError
from neuro.layers.reparam import ConvBN, DepthwisePointwise, RepConv, reparameterize

REPARAMETERISABLE = (ConvBN, RepConv, DepthwisePointwise)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("energy", help="estimate the energy of a model on neuromorphic/CMOS chips",
                       description=__doc__.split("\n\n")[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("target", help="checkpoint file, run directory or experiment TOML")
    p.add_argument("--chip", action="append", default=None, metavar="NAME",
                   help="chip name or chip TOML (repeatable; default cmos45)")
    p.add_argument("--convention", action="append", default=None, metavar="NAME",
                   help="sdt, per_step, memory, ann or power (repeatable; default: all that the chip supports)")
    p.add_argument("--precision", default="fp32", help="arithmetic of digital operations (fp32, fp16, int32, int8)")
    p.add_argument("--weight-bits", type=int, default=32, help="bits per weight for memory traffic")
    p.add_argument("--samples", type=int, default=16, help="number of input samples averaged over")
    p.add_argument("--input", choices=("data", "bernoulli"), default="data", help="where inputs come from")
    p.add_argument("--input-rate", type=float, default=0.1, help="spike probability for --input bernoulli")
    p.add_argument("--time-steps", type=int, default=None, help="T for --input bernoulli")
    p.add_argument("--input-shape", default=None, help="C,H,W of one step, when the experiment's data is unavailable")
    p.add_argument("--num-classes", type=int, default=None, help="classes, when the experiment's data is unavailable")
    p.add_argument("--duration-s", type=float, default=None,
                   help="seconds per sample for the 'power' convention (default T x the neurons' dt)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override an experiment config value")
    p.add_argument("--seed", type=int, default=0, help="seed of --input bernoulli")
    p.add_argument("--out", default=None, help="output folder (default: energy/ beside the target)")
    p.add_argument("--as-written", action="store_true",
                   help="count re-parameterisable blocks (ConvBN, RepConv, separable pairs) as written instead of "
                        "as the single merged convs the papers' convention counts")
    p.set_defaults(func=run)


def _load(args: argparse.Namespace) -> tuple[torch.nn.Module, Any, tuple[int, ...] | None, str]:
    from neuro.experiment import build_from_checkpoint, load_experiment
    from neuro.models import build_model

    target = Path(args.target)
    if target.suffix == ".toml":
        exp = load_experiment(target, args.overrides)
        shape, classes = _data_shape(args, exp)
        model = build_model(exp.settings.model, shape, classes)
        model.eval()
        return model, exp, shape, "untrained weights (an experiment TOML, not a checkpoint)"
    model, exp = build_from_checkpoint(target)
    return model, exp, None, f"trained weights from {target}"


def _data_shape(args: argparse.Namespace, exp: Any) -> tuple[tuple[int, ...], int]:
    if args.input_shape:
        try:
            shape = tuple(int(v) for v in args.input_shape.split(","))
        except ValueError:
            raise ConfigError(f"--input-shape: expected integers like 2,34,34, got {args.input_shape!r}") from None
        if args.num_classes is None:
            raise ConfigError("--input-shape needs --num-classes")
        return shape, args.num_classes
    test_set = _test_set(exp)
    return tuple(test_set.input_shape), int(test_set.num_classes)


def _test_set(exp: Any) -> Any:
    try:
        from neuro.data import build_dataset
    except ImportError:
        raise ConfigError("neuro.data is not available in this installation: pass --input bernoulli with "
                          "--input-shape C,H,W and --num-classes N") from None
    cfg = exp.settings
    return build_dataset({**cfg.data, **cfg.test_data}, "test")


def _inputs(args: argparse.Namespace, exp: Any, model: torch.nn.Module,
            shape: tuple[int, ...] | None) -> tuple[torch.Tensor, str]:
    if args.samples < 1:
        raise ConfigError(f"--samples must be >= 1, got {args.samples}")
    if args.input == "data":
        from neuro.data import collate_time_major

        test_set = _test_set(exp)
        n = min(args.samples, len(test_set))
        x, _ = collate_time_major([test_set[i] for i in range(n)])
        return x, f"{n} test samples of {exp.name}"
    if args.time_steps is None:
        raise ConfigError("--input bernoulli needs --time-steps")
    if shape is None:
        if not args.input_shape:
            raise ConfigError("--input bernoulli on a checkpoint needs --input-shape C,H,W")
        shape = tuple(int(v) for v in args.input_shape.split(","))
    g = torch.Generator().manual_seed(args.seed)
    x = (torch.rand(args.time_steps, args.samples, *shape, generator=g) < args.input_rate).float()
    return x, f"SYNTHETIC Bernoulli spikes, rate {args.input_rate:g}, T = {args.time_steps}, seed {args.seed}"


def _dt(model: torch.nn.Module) -> float | None:
    return next((float(m.dt) for m in model.modules() if isinstance(getattr(m, "dt", None), float)), None)


def run(args: argparse.Namespace) -> int:
    from hardware_models.chips import load_chip
    from hardware_models.energy import CONVENTIONS, estimate
    from hardware_models.plot import plot_energy
    from hardware_models.report import format_energy
    from neuro.analysis import CountOptions, count_ops

    chips = [load_chip(c) for c in (args.chip or ["cmos45"])]  # unknown names fail before any work
    conventions = args.convention or [c for c in CONVENTIONS if c != "power"]
    model, exp, shape, weights = _load(args)
    x, source = _inputs(args, exp, model, shape)
    device = next(model.parameters()).device
    counted = model
    if not args.as_written and any(isinstance(m, REPARAMETERISABLE) for m in model.modules()):
        counted = reparameterize(model, merge_separable=True)  # BN folded, branches merged (PAPERS §5.2)
        print("counting the re-parameterised model (merged convs, folded BN); --as-written to count it as built")
    counts = count_ops(counted, x.to(device), options=CountOptions(weight_bits=args.weight_bits))
    t = counts.time_steps
    dt = _dt(model)
    duration = args.duration_s if args.duration_s is not None else (t * dt if dt else None)
    reports, skipped = [], []
    for chip in chips:
        if args.convention:
            convs = conventions
        elif chip.kind == "neuromorphic" and not chip.has("sop"):
            convs = ["power"]  # chips that publish only a power figure
        else:  # the bit-matched ANN runs on digital hardware: shown for digital chips only
            convs = [c for c in conventions if c != "ann" or chip.kind == "digital"]
        for conv in convs:
            try:
                reports.append(estimate(counts, chip, conv, precision=args.precision, duration_s=duration))
            except ConfigError as exc:
                skipped.append(f"{chip.name}/{conv}: {exc}")
    print(f"model: {exp.name} ({weights}); inputs: {source}")
    print(counts.table())
    print()
    print(f"{'chip':<12}{'convention':<12}{'energy per sample':>20}")
    for r in reports:
        print(f"{r.chip:<12}{r.convention:<12}{format_energy(r.total):>20}")
    for line in skipped:
        print(f"skipped {line}")
    for r in reports:
        print()
        print(r.table())
    out = Path(args.out) if args.out else _default_out(Path(args.target))
    out.mkdir(parents=True, exist_ok=True)
    payload = {"model": exp.name, "weights": weights, "inputs": source, "counts": counts.to_dict(),
               "reports": [r.to_dict() for r in reports], "skipped": skipped}
    (out / "energy.json").write_text(json.dumps(payload, indent=2))
    if reports:
        import matplotlib.pyplot as plt

        fig = plot_energy(reports, title=f"{exp.name}: energy per sample ({source})")
        fig.savefig(out / "energy.png", dpi=110)
        plt.close(fig)
    print(f"\nwrote {out / 'energy.json'} and {out / 'energy.png'}")
    return 0


def _default_out(target: Path) -> Path:
    if target.is_dir():
        return target / "energy"
    return target.parent / "energy" if target.suffix != ".toml" else Path("runs") / target.stem / "energy"
