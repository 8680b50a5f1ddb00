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
    rows.append(("kernel threads", _executor()))
    rows.append(("cuda", torch.cuda.get_device_name(0) if torch.cuda.is_available() else "not available"))
    for name, status in backends.available().items():
        rows.append((f"backend {name}", status))
    rows.append(("event thresholds", _tuning()))
    return rows


def _executor() -> str:
    """Which threads neuro's CPU kernels run on (:mod:`neuro.backends._parallel`)."""
    from neuro.backends import _omp_team
    from neuro.backends._parallel import executor
    from neuro.errors import ConfigError

    try:
        mode = executor()
    except ConfigError as exc:
        return str(exc)
    if mode == "openmp":
        return f"torch's OpenMP team ({_omp_team.library_path()})"
    why = "NEURO_PARALLEL=pool" if not _omp_team.wanted() else "torch does not run on libgomp here"
    return f"neuro's own thread pool ({why})"


def _tuning() -> str:
    """Where the event-driven layers' default thresholds come from (:mod:`neuro.backends.tuning`)."""
    import warnings

    from neuro.backends import tuning
    from neuro.errors import ConfigError

    path = tuning.default_path()
    if path is None:
        return "built-in (NEURO_TUNING is set empty)"
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            data = tuning.load()
    except ConfigError as exc:
        return f"built-in; the tuning file is unusable: {exc}"
    if data is not None:
        return f"this machine's, measured {data.get('measured')} ({path})"
    if caught:
        return f"built-in; {path} was measured on another machine"
    return f"built-in (no tuning file at {path}; `neuro bench --only crossover --save-tuning` writes one)"


def run(args: argparse.Namespace) -> int:
    rows = report()
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")
    return 0
