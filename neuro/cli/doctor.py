"""``neuro doctor``: versions, devices and available backends."""

from __future__ import annotations

import argparse
import importlib.metadata
import platform

PACKAGES = ("torch", "numpy", "h5py", "tonic", "nir", "nirtorch", "snntorch", "spikingjelly", "norse",
            "numba", "triton")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("doctor", help="report versions, devices and available backends")
    p.set_defaults(func=run)


def report() -> list[tuple[str, str]]:
    """Rows of (item, value) describing this installation."""
    import torch

    from neuro import backends

    rows = [("python", platform.python_version()), ("platform", platform.platform())]
    for name in PACKAGES:
        try:
            rows.append((name, importlib.metadata.version(name)))
        except importlib.metadata.PackageNotFoundError:
            rows.append((name, "not installed"))
    rows.append(("torch threads", str(torch.get_num_threads())))
    rows.append(("cuda", torch.cuda.get_device_name(0) if torch.cuda.is_available() else "not available"))
    for name, status in backends.available().items():
        rows.append((f"backend {name}", status))
    return rows


def run(args: argparse.Namespace) -> int:
    rows = report()
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")
    return 0
