"""`neuro data fetch/verify` against a local HTTP server on 127.0.0.1 (never the internet)."""

from __future__ import annotations

import hashlib
import io
import random
import tarfile
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from neuro.cli import main
from neuro.data.archives import safe_extract
from neuro.data.catalog import get_card
from neuro.data.download import DownloadError, fetch, verify
from neuro.errors import DataFormatError
from tests.neuro.data.conftest import SHIPPED


class Server:
    """Serves ``files`` (name -> bytes); ``cut[name] = n`` sends only n bytes of the next response."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.cut: dict[str, int] = {}
        self.honour_range = True
        self.requests: list[tuple[str, str | None]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # keep pytest output clean
                pass

            def do_GET(self) -> None:
                name = self.path.lstrip("/")
                server.requests.append((name, self.headers.get("Range")))
                if name not in server.files:
                    self.send_error(404, "not here")
                    return
                data, start = server.files[name], 0
                rng = self.headers.get("Range")
                if rng and server.honour_range:
                    start = int(rng.split("=")[1].split("-")[0])
                    if start >= len(data):
                        self.send_response(416)
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                body = data[start:]
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                n = server.cut.pop(name, len(body))
                self.wfile.write(body[:n])
                self.wfile.flush()
                if n < len(body):
                    self.close_connection = True

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.02,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    s = Server()
    yield s
    s.close()


def _tar(members: dict[str, bytes], links: dict[str, str] | None = None) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tf.addfile(info)
    return buf.getvalue()


PAYLOAD = _tar({**{f"Train/{d}/{i}.bin": bytes([d, i, 0, 0, i]) * 40 for d in range(3) for i in range(4)},
                "noise.dat": random.Random(0).randbytes(20_000)})  # incompressible: the archive spans many chunks


def _catalog(tmp_path: Path, url: str, data: bytes, extract: str = "auto", name: str = "toy.tar.gz",
             digest: str | None = None) -> Path:
    md5 = digest or hashlib.md5(data).hexdigest()
    path = tmp_path / "catalog.toml"
    path.write_text(f'''
[toy]
title = "Toy"
loader = "nmnist"
homepage = "http://127.0.0.1/"
licence = "CC0"
citation = "none"
num_classes = 3
layout = "Train/<d>/<i>.bin"

[[toy.files]]
name = "{name}"
url = "{url}/{name}"
md5 = "{md5}"
extract = "{extract}"

[[toy.checks]]
path = "Train"
glob = "*/*.bin"
min_count = 12

[hand]
title = "Hand"
loader = "nordland"
homepage = "-"
licence = "-"
citation = "-"
num_classes = 0
layout = "-"
manual = "put the frames in <root>/spring"
''')
    return path


def test_fetch_verifies_and_unpacks(server, tmp_path) -> None:
    server.files["toy.tar.gz"] = PAYLOAD
    card = get_card("toy", _catalog(tmp_path, server.url, PAYLOAD))
    root = tmp_path / "toy"
    rows = fetch(card, root)
    assert all(r.ok for r in rows), rows
    assert (root / "Train" / "2" / "3.bin").read_bytes() == bytes([2, 3, 0, 0, 3]) * 40
    assert all(r.ok for r in verify(card, root))
    n = len(server.requests)
    rows = fetch(card, root)  # already there: verified, not downloaded again
    assert len(server.requests) == n and [r.message for r in rows] == [f"present and verified: {root / 'toy.tar.gz'}",
                                                                         "already unpacked"]


def test_checksum_failure_deletes_the_download(server, tmp_path) -> None:
    server.files["toy.tar.gz"] = PAYLOAD[:5000] + bytes([PAYLOAD[5000] ^ 0xFF]) + PAYLOAD[5001:]
    card = get_card("toy", _catalog(tmp_path, server.url, PAYLOAD))
    with pytest.raises(DataFormatError, match=r"md5 checksum mismatch: got [0-9a-f]{32}, expected"):
        fetch(card, tmp_path / "toy")
    assert not (tmp_path / "toy" / "toy.tar.gz").exists() and not (tmp_path / "toy" / "toy.tar.gz.part").exists()


def test_interrupted_download_resumes_with_range(server, tmp_path) -> None:
    server.files["toy.tar.gz"] = PAYLOAD
    server.cut["toy.tar.gz"] = 300
    card = get_card("toy", _catalog(tmp_path, server.url, PAYLOAD))
    with pytest.raises(DownloadError, match="interrupted after 300"):
        fetch(card, tmp_path / "toy")
    part = tmp_path / "toy" / "toy.tar.gz.part"
    assert part.read_bytes() == PAYLOAD[:300]
    rows = fetch(card, tmp_path / "toy")
    assert server.requests[-1] == ("toy.tar.gz", "bytes=300-")
    assert (tmp_path / "toy" / "toy.tar.gz").read_bytes() == PAYLOAD and not part.exists()
    assert all(r.ok for r in rows)


def test_server_ignoring_range_restarts(server, tmp_path) -> None:
    server.files["toy.tar.gz"] = PAYLOAD
    server.honour_range = False
    (tmp_path / "toy").mkdir()
    (tmp_path / "toy" / "toy.tar.gz.part").write_bytes(b"stale bytes")
    fetch(get_card("toy", _catalog(tmp_path, server.url, PAYLOAD)), tmp_path / "toy")
    assert (tmp_path / "toy" / "toy.tar.gz").read_bytes() == PAYLOAD


@pytest.mark.parametrize("kind", ["absolute", "dotdot", "symlink", "zip_absolute", "zip_dotdot"])
def test_malicious_archive_paths_refused(server, tmp_path, kind) -> None:
    if kind == "absolute":
        data, name = _tar({"Train/0/a.bin": b"1", str(tmp_path / "abs.bin"): b"evil"}), "toy.tar.gz"
    elif kind == "dotdot":
        data, name = _tar({"Train/0/a.bin": b"1", "Train/../../escape.bin": b"evil"}), "toy.tar.gz"
    elif kind == "symlink":
        data, name = _tar({"Train/0/a.bin": b"1"}, links={"Train/link": "/etc"}), "toy.tar.gz"
    else:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            zf.writestr("Train/0/a.bin", b"1")
            zf.writestr("/abs.bin" if kind == "zip_absolute" else "a/../../escape.bin", b"evil")
        data, name = buf.getvalue(), "toy.zip"
    server.files[name] = data
    card = get_card("toy", _catalog(tmp_path, server.url, data, name=name))
    with pytest.raises(DataFormatError, match="refusing member"):
        fetch(card, tmp_path / "toy")
    assert not (tmp_path / "abs.bin").exists() and not (tmp_path / "escape.bin").exists()
    assert not (tmp_path / "toy" / "Train").exists()  # nothing extracted, not even the good member


def test_offline_and_missing_files_say_where_to_put_them(server, tmp_path) -> None:
    closed = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    url = f"http://127.0.0.1:{closed.server_address[1]}"
    closed.server_close()  # nothing listens there any more: connection refused
    card = get_card("toy", _catalog(tmp_path, url, PAYLOAD))
    dest = tmp_path / "toy" / "toy.tar.gz"
    with pytest.raises(DownloadError, match=rf"cannot reach .*save it as {dest} \(md5 [0-9a-f]+\).*neuro data verify"):
        fetch(card, tmp_path / "toy", timeout=5)
    card = get_card("toy", _catalog(tmp_path, server.url, PAYLOAD))  # the server lacks the file: 404
    with pytest.raises(DownloadError, match="HTTP 404"):
        fetch(card, tmp_path / "toy")
    rows = verify(card, tmp_path / "toy")
    assert not any(r.ok for r in rows) and "save it as" in rows[-1].message


def test_cli_fetch_verify(server, tmp_path, capsys) -> None:
    server.files["toy.tar.gz"] = PAYLOAD
    cat = str(_catalog(tmp_path, server.url, PAYLOAD))
    root = str(tmp_path / "toy")
    assert main(["data", "fetch", "toy", "--root", root, "--catalog", cat]) == 0
    assert main(["data", "verify", "toy", "--root", root, "--catalog", cat]) == 0
    (tmp_path / "toy" / "Train" / "0" / "0.bin").unlink()
    (tmp_path / "toy" / "toy.tar.gz").write_bytes(b"corrupt")
    assert main(["data", "verify", "toy", "--root", root, "--catalog", cat]) == 1
    out = capsys.readouterr().out
    assert "11 found, 12 expected" in out and "checksum mismatch" in out
    assert main(["data", "fetch", "hand", "--root", str(tmp_path / "hand"), "--catalog", cat]) == 1
    assert "manual step: put the frames in <root>/spring" in capsys.readouterr().out
    assert main(["data", "list", "--catalog", cat]) == 0 and main(["data", "info", "toy", "--catalog", cat]) == 0
    assert "md5" in capsys.readouterr().out


def test_cli_on_the_packaged_catalog(capsys) -> None:
    assert main(["data", "list"]) == 0
    out = capsys.readouterr().out
    for name in ("nmnist", "nmnist_small", "dvs_gesture", "ntidigits", "es_imagenet", "nordland"):
        assert f"\n{name} " in f"\n{out}"
    assert main(["data", "verify", "nmnist_small", "--root", str(SHIPPED)]) == 0
    assert main(["data", "info", "es_imagenet"]) == 0
    info = capsys.readouterr().out
    assert "unrar" in info and info.count("  file ES-imagenet-0.18.part") == 25


def test_safe_extract_is_atomic(tmp_path) -> None:
    bad = tmp_path / "bad.tar.gz"
    bad.write_bytes(PAYLOAD[:200])  # truncated gzip stream
    with pytest.raises(DataFormatError, match="not a readable archive"):
        safe_extract(bad, tmp_path / "out")
    assert not (tmp_path / "out").exists() and [p.name for p in tmp_path.iterdir()] == ["bad.tar.gz"]
