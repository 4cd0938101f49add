"""Shared helpers of the test_models_* files (no tests here): a real HTTP server on 127.0.0.1
with Range support and injectable faults, a small real model, and an isolated SALTSEG_HOME."""
from __future__ import annotations

import hashlib
import json
import re
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import torch

from saltseg.model.export import export_model
from saltseg.models import Registry, TransferSettings

FAST = TransferSettings(timeout=2.0, retries=0, retry_wait=0.01)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:  # keep pytest output clean
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server API
        srv: FileServer = self.server.owner  # type: ignore[attr-defined]
        path = urlsplit(self.path).path  # a proxy request carries an absolute URL
        with srv.lock:
            srv.requests.append((self.path, self.headers.get("Range")))
            drop = srv.drops.get(path, 0) > 0
            if drop:
                srv.drops[path] -= 1
        if srv.delay:
            time.sleep(srv.delay)
        data = srv.files.get(path)
        if data is None:
            self.send_error(404, "Not Found")
            return
        start = 0
        match = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
        if match and srv.ranges:
            start = int(match.group(1))
            if start >= len(data):
                self.send_error(416, "Range Not Satisfiable")
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Accept-Ranges", "bytes" if srv.ranges else "none")
        self.end_headers()
        try:
            if drop:  # send half, then cut the connection like a flaky proxy
                self.wfile.write(body[: len(body) // 2])
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_RDWR)
                self.close_connection = True
                return
            for offset in range(0, len(body), srv.chunk):
                if srv.chunk_delay:
                    time.sleep(srv.chunk_delay)
                self.wfile.write(body[offset: offset + srv.chunk])
        except (ConnectionError, OSError):
            self.close_connection = True


class FileServer:
    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.requests: list[tuple[str, str | None]] = []
        self.drops: dict[str, int] = {}   # path -> how many more responses to cut halfway
        self.delay = 0.0                  # seconds before answering (slow server)
        self.chunk_delay = 0.0            # seconds between body chunks
        self.chunk = 1 << 14
        self.ranges = True
        self.lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.owner = self  # type: ignore[attr-defined]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def gets(self, name: str) -> list[str | None]:
        """Range headers of the requests for ``/files/<name>``."""
        return [rng for path, rng in self.requests if urlsplit(path).path == f"/files/{name}"]

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    srv = FileServer()
    yield srv
    srv.close()


@pytest.fixture(autouse=True)
def isolated_home(tmp_path, monkeypatch) -> Path:
    """Never touch the real user cache, user catalogues or a proxy."""
    home = tmp_path / "home"
    monkeypatch.setenv("SALTSEG_HOME", str(home))
    monkeypatch.delenv("SALTSEG_CATALOG", raising=False)
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    return home


def export_small_model(out: Path, tree, seed: int = 0) -> Path:
    torch.manual_seed(seed)
    return export_model(torch.nn.Conv3d(1, len(tree), 1), tree, out, roi_size=(16, 16, 8),
                        voxel_spacing=(6.0, 6.0, 6.0))


@pytest.fixture(scope="session")
def model_folder(tmp_path_factory, salt_tree) -> Path:
    """A real official-format model on the published 145-node tree, a few hundred KB."""
    return export_small_model(tmp_path_factory.mktemp("model_a"), salt_tree, seed=0)


@pytest.fixture(scope="session")
def other_model_folder(tmp_path_factory, salt_tree) -> Path:
    return export_small_model(tmp_path_factory.mktemp("model_b"), salt_tree, seed=1)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write_catalog(path: Path, model_id: str, base_url: str, folder: Path, **overrides) -> Path:
    """A user catalogue with one entry whose files are served from ``base_url/files/``."""
    files = []
    for name in ("model.pt", "config.pkl"):
        data = (folder / name).read_bytes()
        item = {"name": name, "url": f"{base_url}/files/{name}", "size": len(data), "sha256": sha256(data)}
        item.update(overrides.get(name, {}))
        files.append(item)
    entry = {
        "id": model_id, "title": "Test model", "description": "tiny model for tests", "version": "1",
        "license": "MIT", "citation": "", "format": "salt-export-v1",
        "label_tree": {"name": "saros+totalseg", "nodes": 145, "leaves": 114},
        "roi_size": [16, 16, 8], "voxel_spacing": [6.0, 6.0, 6.0], "min_memory_mb": 64,
        "bundled": False, "files": files,
    }
    path.write_text(json.dumps({"schema_version": 1, "models": [entry]}))
    return path


def serve_model(server: FileServer, folder: Path) -> None:
    for name in ("model.pt", "config.pkl"):
        server.files[f"/files/{name}"] = (folder / name).read_bytes()


def make_registry(home: Path, catalog: Path, settings: TransferSettings = FAST, **kw) -> Registry:
    return Registry(home, catalog_file=catalog, settings=settings, **kw)


def visible_models(home: Path) -> list[str]:
    models = home / "models"
    return sorted(p.name for p in models.iterdir()) if models.is_dir() else []


def user_models(registry) -> list:
    """Installed models other than those shipped inside the package (the demo model)."""
    return [m for m in registry.list_installed() if m.kind != "bundled"]
