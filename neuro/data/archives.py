"""Safe archive extraction (zip, tar, tar.gz, tar.bz2, tar.xz) and the data root.

:func:`safe_extract` checks every member before writing anything: absolute paths, ``..`` components,
links, device files and names that would land outside the destination are refused with a
:class:`~neuro.errors.DataFormatError` naming the archive and the member. Extraction goes into a
temporary folder beside the destination, which is renamed into place when complete, so an interrupted
extraction never leaves a half-filled folder that looks finished.

The data root is ``$NEURO_DATA_ROOT`` when set, else ``./datasets/data`` (relative to the current
directory; git-ignored in the repository).

Example:
    >>> import io, tarfile, tempfile, pathlib
    >>> tmp = pathlib.Path(tempfile.mkdtemp())
    >>> buf = io.BytesIO()
    >>> with tarfile.open(fileobj=buf, mode="w:gz") as tf:
    ...     info = tarfile.TarInfo("Train/0/1.bin"); info.size = 5
    ...     tf.addfile(info, io.BytesIO(b"abcde"))
    >>> _ = (tmp / "a.tar.gz").write_bytes(buf.getvalue())
    >>> out = safe_extract(tmp / "a.tar.gz", tmp / "out")
    >>> (out / "Train" / "0" / "1.bin").read_bytes()
    b'abcde'
"""

from __future__ import annotations

import hashlib
import lzma
import os
import posixpath
import shutil
import tarfile
import uuid
import zipfile
import zlib
from pathlib import Path

from neuro.errors import DataFormatError

ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz", ".txz")

__all__ = ["ARCHIVE_SUFFIXES", "data_root", "is_archive", "locate_folder", "resolve_path", "safe_extract"]


def data_root() -> Path:
    """``$NEURO_DATA_ROOT`` if set, else ``./datasets/data``."""
    env = os.environ.get("NEURO_DATA_ROOT")
    return Path(env).expanduser() if env else Path("datasets") / "data"


def resolve_path(path: str | Path, default: Path) -> Path:
    """``path`` made absolute against the current directory; ``default`` when ``path`` is empty."""
    return (Path(path).expanduser() if str(path) else default).absolute()


def is_archive(path: Path) -> bool:
    name = path.name.lower()
    return any(name.endswith(s) for s in ARCHIVE_SUFFIXES)


def _check_name(archive: Path, name: str) -> str:
    clean = name.replace("\\", "/")
    if clean.startswith("/") or (len(clean) > 1 and clean[1] == ":"):
        raise DataFormatError(f"{archive}: refusing member {name!r}: absolute path")
    parts = [p for p in clean.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise DataFormatError(f"{archive}: refusing member {name!r}: '..' path component")
    norm = posixpath.normpath("/".join(parts)) if parts else ""
    return norm


def _members_zip(archive: Path, zf: zipfile.ZipFile) -> list[tuple[zipfile.ZipInfo, str]]:
    out = []
    for info in zf.infolist():
        norm = _check_name(archive, info.filename)
        mode = (info.external_attr >> 16) & 0o170000
        if mode and mode not in (0o100000, 0o040000):  # regular file or directory only (no symlinks)
            raise DataFormatError(f"{archive}: refusing member {info.filename!r}: not a regular file or folder")
        if norm:
            out.append((info, norm))
    return out


def _members_tar(archive: Path, tf: tarfile.TarFile) -> list[tuple[tarfile.TarInfo, str]]:
    out = []
    for info in tf.getmembers():
        norm = _check_name(archive, info.name)
        if not (info.isfile() or info.isdir()):
            raise DataFormatError(f"{archive}: refusing member {info.name!r}: links and special files are not "
                                  "extracted")
        if norm:
            out.append((info, norm))
    return out


def _open_error(archive: Path, exc: Exception) -> DataFormatError:
    return DataFormatError(f"{archive}: not a readable archive ({type(exc).__name__}: {exc})")


def safe_extract(archive: str | Path, dest: str | Path) -> Path:
    """Extract ``archive`` into the folder ``dest`` (created; must not exist yet) and return ``dest``."""
    archive, dest = Path(archive), Path(dest)
    if dest.exists():
        raise DataFormatError(f"{dest}: extraction target already exists")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    tmp.mkdir()
    try:
        if archive.name.lower().endswith(".zip"):
            try:
                with zipfile.ZipFile(archive) as zf:
                    for info, norm in _members_zip(archive, zf):
                        target = tmp / norm
                        if info.is_dir():
                            target.mkdir(parents=True, exist_ok=True)
                            continue
                        target.parent.mkdir(parents=True, exist_ok=True)
                        with zf.open(info) as src, open(target, "wb") as out:
                            shutil.copyfileobj(src, out, 1 << 20)
            except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError, zlib.error,
                    lzma.LZMAError, NotImplementedError) as exc:
                raise _open_error(archive, exc) from None
        else:
            try:
                with tarfile.open(archive) as tf:
                    for info, norm in _members_tar(archive, tf):
                        target = tmp / norm
                        if info.isdir():
                            target.mkdir(parents=True, exist_ok=True)
                            continue
                        target.parent.mkdir(parents=True, exist_ok=True)
                        src = tf.extractfile(info)
                        if src is None:  # pragma: no cover - regular files always have data
                            raise DataFormatError(f"{archive}: member {info.name!r} has no data")
                        with src, open(target, "wb") as out:
                            shutil.copyfileobj(src, out, 1 << 20)
            except (tarfile.TarError, EOFError, OSError, ValueError, zlib.error, lzma.LZMAError) as exc:
                raise _open_error(archive, exc) from None
        try:
            os.replace(tmp, dest)
        except OSError as exc:
            raise DataFormatError(f"{dest}: cannot move the extracted files into place: {exc}") from None
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return dest


def _archive_id(path: Path) -> str:
    st = path.stat()
    return hashlib.sha256(f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode()).hexdigest()[:12]


def archive_stem(path: Path) -> str:
    """File name without its archive suffix (``a.tar.xz`` -> ``a``)."""
    name = path.name
    for suffix in sorted(ARCHIVE_SUFFIXES, key=len, reverse=True):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


def _holder(folder: Path, wanted: str) -> Path | None:
    if (folder / wanted).is_dir():
        return folder
    subs = [p for p in folder.iterdir() if p.is_dir() and not p.name.startswith((".", "__"))]
    if len(subs) == 1 and (subs[0] / wanted).is_dir():
        return subs[0]
    return None


def locate_folder(root: Path, wanted: str, extract_dir: Path, prefer: tuple[str, ...] = (), skip: tuple[str, ...] = (),
                  hint: str = "") -> Path:
    """The folder that holds ``wanted/``: ``root`` (or its single sub-folder), else an archive in ``root``.

    Archives named in ``prefer`` are tried first, then any other archive not named in ``skip``. Each is
    unpacked once into ``extract_dir/<stem>-<id>`` (``id`` from its path, size and mtime, so a replaced
    archive is unpacked afresh) and reused afterwards.
    """
    if not root.is_dir():
        raise DataFormatError(f"{root}: data folder not found; {hint}")
    found = _holder(root, wanted)
    if found is not None:
        return found
    archives = sorted(p for p in root.iterdir() if p.is_file() and is_archive(p))
    ordered = [p for p in archives if p.name in prefer] + [p for p in archives if p.name not in prefer + skip]
    for archive in ordered:
        target = extract_dir / f"{archive_stem(archive)}-{_archive_id(archive)}"
        if not target.is_dir():
            try:
                safe_extract(archive, target)
            except DataFormatError:
                if not target.is_dir():  # another process may have unpacked it at the same time
                    raise
        found = _holder(target, wanted)
        if found is not None:
            return found
    raise DataFormatError(f"{root}: no {wanted}/ folder and no archive holding one (archives here: "
                          f"{[p.name for p in archives] or 'none'}); {hint}")
