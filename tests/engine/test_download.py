"""The shared downloader: .part then rename, size and sha256 checks, one clear error offline."""

from __future__ import annotations

import hashlib
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from engine.errors import DownloadError
from engine.tools.assets import YAHEY_SIZE, fetch_yahey
from engine.tools.download import download

PAYLOAD = bytes(range(256)) * 4000  # ~1 MB


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again when the block ends


@pytest.fixture
def server():
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            if self.path == "/missing":
                self.send_error(404)
                return
            body = PAYLOAD[: len(PAYLOAD) // 2] if self.path == "/short" else PAYLOAD
            self.send_response(200)
            self.send_header("Content-Length", str(len(PAYLOAD)))  # /short lies about its size
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_download_verifies_and_renames(server, tmp_path):
    dest = tmp_path / "sub" / "file.bin"
    sha = hashlib.sha256(PAYLOAD).hexdigest()
    assert download(f"{server}/file", dest, expected_size=len(PAYLOAD), expected_sha256=sha,
                    progress=False) == sha
    assert dest.read_bytes() == PAYLOAD
    assert not dest.with_name("file.bin.part").exists()


@pytest.mark.parametrize("path, kwargs, match", [
    ("/file", {"expected_sha256": "0" * 64}, "sha256"),
    ("/file", {"expected_size": 5}, "expected 5"),
    ("/file", {"min_size": 10**9}, "only"),
    ("/short", {}, "cut short|announced"),
    ("/missing", {}, "HTTP 404"),
])
def test_bad_downloads_leave_nothing(server, tmp_path, path, kwargs, match):
    dest = tmp_path / "file.bin"
    with pytest.raises(DownloadError, match=match):
        download(f"{server}{path}", dest, progress=False, **kwargs)
    assert list(tmp_path.iterdir()) == []


def test_no_network_is_one_clear_error(tmp_path):
    url = f"http://127.0.0.1:{_closed_port()}/vox-cpk.pdparams"
    with pytest.raises(DownloadError, match="cannot reach 127.0.0.1"):
        download(url, tmp_path / "w.pdparams", progress=False)
    with pytest.raises(DownloadError):
        fetch_yahey(tmp_path, url=url, progress=False)
    assert not any(tmp_path.rglob("*.part"))


def test_fetch_yahey_checks_the_published_size(server, tmp_path):
    with pytest.raises(DownloadError, match=str(YAHEY_SIZE)):
        fetch_yahey(tmp_path, url=f"{server}/file", progress=False)


@pytest.mark.parametrize("url", ["file:///tmp/mayiyahei.MP4", "mayiyahei.MP4", "http://"])
def test_a_url_that_is_not_http_is_named(tmp_path, url):
    with pytest.raises(DownloadError, match="^not an http\\(s\\) URL: ") as err:
        download(url, tmp_path / "x.bin", progress=False)
    assert url in str(err.value) and list(tmp_path.iterdir()) == []
