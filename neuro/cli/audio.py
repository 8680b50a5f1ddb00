"""``neuro audio FILE.wav [...] --out DIR``: any sound -> N-TIDIGITS-like cochlea events.

Each WAV goes through :func:`neuro.data.audio.wav_to_events` (gammatone filterbank, envelope, level crossing) and
is written next to the others in ``--out``, as SLAYER ``.bs1`` (the 1-D format of the N-TIDIGITS sample files,
read by ``neuro.data``'s ``ntidigits`` list layout; ON events only) or ``.npz`` (fields ``x, y, t, p``).
Prints one line per file: events, duration, busiest channel.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("audio", help="convert WAV files into cochlea-like spike events",
                       description="Convert WAV files into 64-channel cochlea-like spike events (N-TIDIGITS style).")
    p.add_argument("wav", nargs="+", help="input WAV files")
    p.add_argument("--out", default=".", help="output folder (default: the current one)")
    p.add_argument("--format", choices=("bs1", "npz"), default="bs1", help="output format (default bs1)")
    p.add_argument("--channels", type=int, default=64, help="filterbank channels (default 64)")
    p.add_argument("--f-min", type=float, default=100.0, help="lowest centre frequency, Hz")
    p.add_argument("--f-max", type=float, default=8000.0, help="highest centre frequency, Hz")
    p.add_argument("--delta-db", type=float, default=6.0, help="level-crossing step, dB (smaller: more events)")
    p.add_argument("--floor-db", type=float, default=-60.0, help="silence floor, dB re full scale")
    p.add_argument("--polarity", choices=("on", "both"), default="on", help="ON events only, or ON and OFF")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from neuro.data.audio import CochleaConfig, wav_to_events
    from neuro.data.binary import encode_bs1
    from neuro.errors import ConfigError

    cfg = CochleaConfig(n_channels=args.channels, f_min=args.f_min, f_max=args.f_max, delta_db=args.delta_db,
                        floor_db=args.floor_db, polarity=args.polarity)
    if args.format == "bs1" and cfg.polarity == "both":
        raise ConfigError("--format bs1 stores ON events only; use --format npz with --polarity both")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for wav in map(Path, args.wav):
        events = wav_to_events(wav, cfg)
        target = out / f"{wav.stem}.{args.format}"
        if args.format == "bs1":
            target.write_bytes(encode_bs1(events))
        else:
            np.savez(target, **{name: events[name] for name in events.dtype.names})
        busiest = int(np.bincount(events["x"], minlength=cfg.n_channels).argmax()) if len(events) else -1
        duration = float(events["t"].max()) / 1e6 if len(events) else 0.0
        print(f"{wav} -> {target}: {len(events)} events over {duration:.3f} s, busiest channel {busiest}")
    return 0
