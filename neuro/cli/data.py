"""``neuro data list|info|fetch|verify``: the dataset catalog from the command line.

* ``list``: every catalog dataset, its classes, samples, licence and whether a local copy is found;
* ``info NAME``: the full card (URLs, checksums, layout, sensor, licence, citation, notes);
* ``fetch NAME [--root DIR]``: resumable, checksum-verified download and safe unpacking; exits 1 with the
  exact manual step when a file cannot be fetched (offline, or a dataset that needs a manual download);
* ``verify NAME [--root DIR]``: checks a local copy against the catalog; exits 1 on any failure.

``--catalog FILE`` reads another catalog of the same schema (a local mirror, tests).
"""

from __future__ import annotations

import argparse
import sys

from neuro.errors import NeuroError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("data", help="list, describe, download and verify datasets")
    dsub = p.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    for name, help_ in (("list", "list the catalog's datasets"), ("info", "show a dataset's card"),
                        ("fetch", "download, verify and unpack a dataset"),
                        ("verify", "check a local copy against the catalog")):
        q = dsub.add_parser(name, help=help_)
        if name != "list":
            q.add_argument("name", help="dataset name (see `neuro data list`)")
        if name in ("fetch", "verify", "list"):
            q.add_argument("--root", default="", help="dataset folder (default: the card's, under the data root)"
                           if name != "list" else argparse.SUPPRESS)
        if name == "fetch":
            q.add_argument("--timeout", type=float, default=60.0, help="network timeout in seconds")
        q.add_argument("--catalog", default=None, help="catalog TOML file (default: the packaged one)")
        q.set_defaults(func=run)


def _progress(name: str, done: int, total: int) -> None:
    if total:
        print(f"\r  {name}: {done / 1e6:.1f} / {total / 1e6:.1f} MB", end="", file=sys.stderr, flush=True)


def _status(rows: list) -> int:
    for s in rows:
        print(f"  [{'ok' if s.ok else '!!'}] {s.item}: {s.message}")
    return 0 if all(s.ok for s in rows) else 1


def run(args: argparse.Namespace) -> int:
    from neuro.data.catalog import get_card, load_catalog
    from neuro.data.download import fetch, verify

    if args.data_command == "list":
        cards = load_catalog(args.catalog)
        width = max(len(n) for n in cards)
        for name, card in cards.items():
            samples = ", ".join(f"{k} {v}" for k, v in (card.samples or {}).items()) or "see card"
            local = "local copy found" if card.root().exists() else "not downloaded"
            print(f"{name:<{width}}  {card.title}; {card.num_classes or '-'} classes; {samples}; "
                  f"{card.licence.split(';')[0].split(' (')[0]}; {local} ({card.root()})")
        return 0
    card = get_card(args.name, args.catalog)
    if args.data_command == "info":
        print(f"{card.name}: {card.title}")
        for key in ("loader", "homepage", "licence", "citation", "sensor_size", "num_classes", "samples", "layout",
                    "default_root", "manual", "notes"):
            value = getattr(card, key)
            if value not in ("", None, (), {}):
                print(f"  {key}: {value}")
        print(f"  root: {card.root()}")
        for f in card.files:
            digest = f"sha256 {f.sha256}" if f.sha256 else f"md5 {f.md5}" if f.md5 else "no checksum"
            print(f"  file {f.name}: {f.url or f.manual}; {digest}; extract={f.extract}")
        for c in card.checks:
            print(f"  check: at least {c.min_count} x {c.path}/{c.glob}")
        return 0
    root = card.root(args.root)
    print(f"{args.data_command} {card.name} in {root}")
    if args.data_command == "fetch":
        try:
            rows = fetch(card, root, args.timeout, _progress)
        except NeuroError as exc:
            print(file=sys.stderr)
            print(f"neuro data fetch: {exc}", file=sys.stderr)
            return 1
        print(file=sys.stderr)
        return _status(rows)
    return _status(verify(card, root))
