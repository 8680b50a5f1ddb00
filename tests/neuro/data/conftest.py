"""Fixtures of the data tests: a private data root, and the statistics MANIFEST.md gives for the real files."""

from __future__ import annotations

import csv
import re
import socket
from pathlib import Path

import pytest

from tests.conftest import REPO

SHIPPED = REPO / "datasets" / "nmnist_small"


@pytest.fixture(autouse=True)
def _data_root(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test writes unpacked archives and frame caches below a temporary data root."""
    root = tmp_path_factory.mktemp("data_root")
    monkeypatch.setenv("NEURO_DATA_ROOT", str(root))
    return root


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Data tests may only talk to 127.0.0.1 (the local test server): other host lookups fail loudly."""
    real = socket.getaddrinfo

    def local_only(host, *args, **kwargs):
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise OSError(f"test tried to reach {host!r}: the data tests never use the network")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", local_only)


def manifest_stats(shared: Path) -> dict[str, dict[str, int]]:
    """``decoded stats`` column of MANIFEST.md: file -> n, x/y/channel ranges, t range."""
    out = {}
    for line in (shared / "MANIFEST.md").read_text().splitlines():
        cells = [c.strip() for c in line.split("|")]
        if len(cells) < 6 or not cells[1].endswith((".bin", ".bs2", ".bs1")):
            continue
        m = re.search(r"n=(\d+), (?:x|channel) (\d+)\.\.(\d+).*?t (\d+)\.\.(\d+) us", line)
        if m:
            n, lo, hi, t0, t1 = map(int, m.groups())
            out[cells[1]] = {"n": n, "x_min": lo, "x_max": hi, "t_min": t0, "t_max": t1}
    return out


def nmnist_small_rows(shared: Path) -> list[dict[str, str]]:
    """labels.csv of SLAYER's NMNISTsmall: file, split, label, n_events, t_max_us, size, sha256."""
    with (shared / "nmnist" / "slayer_NMNISTsmall" / "labels.csv").open() as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="session")
def shipped_work(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A work folder shared by the tests that read the shipped archive, so it is unpacked once per session."""
    return str(tmp_path_factory.mktemp("shipped_work"))
