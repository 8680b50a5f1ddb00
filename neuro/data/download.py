"""Fetch and verify datasets listed in the catalog: resumable, checksum-verified, safely extracted.

* :func:`download` streams a URL into ``<file>.part``; when that exists it asks for the rest with an HTTP
  ``Range`` request (and starts over if the server ignores it), verifies the md5 / sha256 and only then
  renames the file into place. A failed checksum deletes the partial file and raises
  :class:`~neuro.errors.DataFormatError` with both digests; a network failure raises :class:`DownloadError`,
  keeping what arrived so the next call resumes.
* :func:`fetch` does that for every file of a :class:`~neuro.data.catalog.Card` and unpacks the archives
  marked ``extract = "auto"`` with :func:`~neuro.data.archives.safe_extract` (absolute paths, ``..`` and links
  refused). Files that need a manual step produce a message saying exactly which file to put where.
* :func:`verify` checks a local copy: each present file against its checksum, each layout check's count.

Example:
    >>> import hashlib, tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "f.bin"; _ = p.write_bytes(b"abc")
    >>> file_digest(p, "md5") == hashlib.md5(b"abc").hexdigest()
    True
"""

from __future__ import annotations

import hashlib
import http.client
import os
import shutil
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from neuro.data.archives import archive_stem, safe_extract
from neuro.data.catalog import Card, FileSpec
from neuro.errors import DataFormatError, NeuroError

CHUNK = 1 << 20
USER_AGENT = "neuro-data/0.1 (+https://github.com; python urllib)"

__all__ = ["DownloadError", "Status", "download", "fetch", "file_digest", "verify"]


class DownloadError(NeuroError, ConnectionError):
    """A download failed (offline, refused, interrupted); the message says how to get the file by hand."""


@dataclass(frozen=True)
class Status:
    item: str
    ok: bool
    message: str


def file_digest(path: Path, algorithm: str) -> str:
    h = hashlib.new(algorithm)
    with open(path, "rb") as fh:
        while block := fh.read(CHUNK):
            h.update(block)
    return h.hexdigest()


def _expected(spec: FileSpec) -> tuple[str, str] | None:
    if spec.sha256:
        return "sha256", spec.sha256.lower()
    if spec.md5:
        return "md5", spec.md5.lower()
    return None


def check_file(path: Path, spec: FileSpec) -> None:
    """Raise :class:`DataFormatError` when ``path`` does not match ``spec``'s size or checksum."""
    if spec.size and path.stat().st_size != spec.size:
        raise DataFormatError(f"{path}: size {path.stat().st_size} bytes, expected {spec.size}")
    expected = _expected(spec)
    if expected is not None:
        algo, digest = expected
        actual = file_digest(path, algo)
        if actual != digest:
            raise DataFormatError(f"{path}: {algo} checksum mismatch: got {actual}, expected {digest}")


def _manual_hint(spec: FileSpec, dest: Path, card: str) -> str:
    expected = _expected(spec)
    digest = f" ({expected[0]} {expected[1]})" if expected else ""
    source = spec.url or spec.manual
    return (f"download {source} yourself and save it as {dest}{digest}, then run `neuro data verify {card}`")


def download(url: str, dest: Path, spec: FileSpec, card: str = "", timeout: float = 60.0,
             progress: Callable[[int, int], None] | None = None) -> Path:
    """Download ``url`` to ``dest`` (resuming ``dest.part``), verify it against ``spec`` and return ``dest``."""
    dest = Path(dest)
    part = dest.with_name(dest.name + ".part")
    dest.parent.mkdir(parents=True, exist_ok=True)
    start = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": USER_AGENT}
    if start:
        headers["Range"] = f"bytes={start}-"
    try:
        resp = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and start:  # nothing left to send: the partial file is complete
            resp = None
        else:
            raise DownloadError(f"{url}: HTTP {exc.code} {exc.reason}; {_manual_hint(spec, dest, card)}") from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        reason = getattr(exc, "reason", exc)
        raise DownloadError(f"cannot reach {url} ({reason}); {_manual_hint(spec, dest, card)}") from None
    if resp is not None:
        with resp:
            resumed = start > 0 and resp.status == 206
            if start and not resumed:
                start = 0  # the server ignored the Range request: start over
            total = resp.headers.get("Content-Length")
            total_bytes = start + int(total) if total and total.isdigit() else 0
            done = start
            try:
                with open(part, "ab" if resumed else "wb") as out:
                    while block := resp.read(CHUNK):
                        out.write(block)
                        done += len(block)
                        if progress is not None:
                            progress(done, total_bytes)
            except (OSError, http.client.HTTPException) as exc:  # includes timeouts
                raise DownloadError(f"{url}: interrupted after {done} bytes ({type(exc).__name__}: {exc}); run "
                                    f"the command again to resume from {part}") from None
            if total_bytes and done < total_bytes:
                raise DownloadError(f"{url}: interrupted after {done} of {total_bytes} bytes; run the command "
                                    f"again to resume from {part}")
    try:
        check_file(part, spec)
    except DataFormatError as exc:
        part.unlink(missing_ok=True)
        raise DataFormatError(f"{dest.name} from {url}: {exc}; the partial file was deleted") from None
    os.replace(part, dest)
    return dest


def extract_into(archive: Path, root: Path) -> list[str]:
    """Unpack ``archive`` safely into ``root``, moving its top-level entries in; existing entries are kept."""
    tmp = root / f".{archive_stem(archive)}.unpack"
    if tmp.exists():
        shutil.rmtree(tmp)
    safe_extract(archive, tmp)
    moved = []
    try:
        for child in sorted(tmp.iterdir()):
            target = root / child.name
            if not target.exists():
                os.replace(child, target)
                moved.append(child.name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    (root / f".{archive.name}.extracted").write_text("ok\n")
    return moved


def fetch(card: Card, root: Path, timeout: float = 60.0,
          progress: Callable[[str, int, int], None] | None = None) -> list[Status]:
    """Download, verify and unpack every file of ``card`` into ``root``; returns one status per step.

    Raises:
        DownloadError: a file could not be downloaded (the message says where to put it by hand).
        DataFormatError: a checksum failed or an archive holds unsafe paths.
    """
    root.mkdir(parents=True, exist_ok=True)
    out: list[Status] = []
    if not card.files and card.manual:
        out.append(Status(card.name, False, f"manual step: {card.manual}; root {root}"))
    for spec in card.files:
        dest = root / spec.name
        if dest.exists():
            check_file(dest, spec)
            out.append(Status(spec.name, True, f"present and verified: {dest}"))
        elif not spec.url:
            out.append(Status(spec.name, False, f"manual step: put {spec.manual or spec.name} at {dest}"))
            continue
        else:
            cb = (lambda d, t, n=spec.name: progress(n, d, t)) if progress else None
            download(spec.url, dest, spec, card.name, timeout, cb)
            out.append(Status(spec.name, True, f"downloaded and verified: {dest}"))
        if spec.extract == "auto":
            marker = root / f".{spec.name}.extracted"
            if marker.exists():
                out.append(Status(spec.name, True, "already unpacked"))
            else:
                moved = extract_into(dest, root)
                out.append(Status(spec.name, True, f"unpacked into {root}: {', '.join(moved) or 'nothing new'}"))
        elif spec.extract == "manual":
            out.append(Status(spec.name, False, f"manual step: unpack {dest} (see `neuro data info {card.name}`)"))
    return out


def verify(card: Card, root: Path) -> list[Status]:
    """Check the files present under ``root`` and the layout checks; missing archives whose content is
    present (the layout checks pass) are not errors."""
    out: list[Status] = []
    checks_ok = True
    for chk in card.checks:
        folder = root / chk.path
        count = sum(1 for _ in folder.glob(chk.glob)) if folder.is_dir() else 0
        ok = count >= chk.min_count
        checks_ok &= ok
        out.append(Status(f"{chk.path}/{chk.glob}", ok, f"{count} found, {chk.min_count} expected"))
    for spec in card.files:
        path = root / spec.name
        if not path.exists():
            ok = bool(card.checks) and checks_ok and spec.extract == "auto"
            out.append(Status(spec.name, ok, "absent (its unpacked content passes the checks)" if ok
                              else f"missing: {_manual_hint(spec, path, card.name)}"))
            continue
        try:
            check_file(path, spec)
            algo = _expected(spec)
            out.append(Status(spec.name, True, f"{algo[0]} ok" if algo else "present (no checksum in the catalog)"))
        except DataFormatError as exc:
            out.append(Status(spec.name, False, str(exc)))
    if not out:
        out.append(Status(card.name, False, f"nothing to verify; {card.manual}"))
    return out
