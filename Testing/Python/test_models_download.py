"""Downloads against a real HTTP server on 127.0.0.1: verification, resume, faults, locking."""
from __future__ import annotations

import logging
import threading
import time

import pytest

from saltseg.errors import Cancelled
from saltseg.model.model_io import load_model
from saltseg.models import (ChecksumError, DownloadError, ModelNotInstalledError, OfflineError,
                            TransferSettings, resolve_model_dir)
from saltseg.progress import CancelToken
from test_models_helpers import (FAST, isolated_home, make_registry, model_folder, serve_model,  # noqa: F401
                                 server, user_models, visible_models, write_catalog)

MODEL_ID = "test-model"


@pytest.fixture
def catalog(tmp_path, server, model_folder):
    serve_model(server, model_folder)
    return write_catalog(tmp_path / "catalog.json", MODEL_ID, server.base, model_folder)


def test_download_installs_verified_model_with_progress(isolated_home, server, catalog, model_folder):
    calls = []
    registry = make_registry(isolated_home, catalog)
    path = registry.download(MODEL_ID, progress=lambda d, t, s: calls.append((d, t, s)))

    total = sum((model_folder / n).stat().st_size for n in ("model.pt", "config.pkl"))
    assert path == isolated_home / "models" / MODEL_ID
    for name in ("model.pt", "config.pkl"):
        assert (path / name).read_bytes() == (model_folder / name).read_bytes()
    assert calls and calls[-1][0] == total and all(t == total for _, t, _ in calls)
    assert [d for d, _, _ in calls] == sorted(d for d, _, _ in calls)  # never goes backwards
    assert calls[-1][2] > 0
    assert load_model(resolve_model_dir(MODEL_ID, catalog_file=catalog), "cpu").tree is not None
    # A second run must not download again.
    requests = len(server.requests)
    assert registry.download(MODEL_ID) == path
    assert len(server.requests) == requests
    [installed] = user_models(registry)
    assert (installed.id, installed.kind, installed.problem) == (MODEL_ID, "cached", None)
    assert installed.size_bytes >= total


def test_wrong_sha256_installs_nothing(isolated_home, server, tmp_path, model_folder):
    serve_model(server, model_folder)
    bad = write_catalog(tmp_path / "bad.json", MODEL_ID, server.base, model_folder,
                        **{"model.pt": {"sha256": "0" * 64}})
    registry = make_registry(isolated_home, bad)
    with pytest.raises(ChecksumError, match="sha256 .* expects 0000"):
        registry.download(MODEL_ID)
    assert visible_models(isolated_home) == []
    assert not list((isolated_home / ".tmp" / "downloads").rglob("model.pt.part"))  # bad bytes discarded
    with pytest.raises(ModelNotInstalledError):
        resolve_model_dir(MODEL_ID, catalog_file=bad)


def test_dropped_connection_installs_nothing_then_resumes(isolated_home, server, catalog, model_folder):
    server.drops["/files/model.pt"] = 1
    registry = make_registry(isolated_home, catalog)
    with pytest.raises(DownloadError, match="connection") as error:
        registry.download(MODEL_ID)
    assert "saltseg models install PATH --as test-model" in str(error.value)
    assert visible_models(isolated_home) == []

    path = registry.download(MODEL_ID)
    ranges = server.gets("model.pt")
    assert ranges[0] is None and ranges[-1].startswith("bytes=") and ranges[-1] != "bytes=0-"
    assert (path / "model.pt").read_bytes() == (model_folder / "model.pt").read_bytes()


def test_retries_resume_within_one_call(isolated_home, server, catalog, model_folder):
    server.drops["/files/model.pt"] = 2
    registry = make_registry(isolated_home, catalog, TransferSettings(timeout=2, retries=2, retry_wait=0.01))
    path = registry.download(MODEL_ID)
    assert len(server.gets("model.pt")) == 3
    assert (path / "model.pt").read_bytes() == (model_folder / "model.pt").read_bytes()


def test_server_without_ranges_restarts_from_zero(isolated_home, server, catalog, model_folder):
    server.ranges = False
    server.drops["/files/model.pt"] = 1
    registry = make_registry(isolated_home, catalog, TransferSettings(timeout=2, retries=1, retry_wait=0.01))
    path = registry.download(MODEL_ID)
    assert (path / "model.pt").read_bytes() == (model_folder / "model.pt").read_bytes()


def test_404_is_not_retried(isolated_home, server, catalog):
    server.files.pop("/files/model.pt")
    registry = make_registry(isolated_home, catalog, TransferSettings(timeout=2, retries=3, retry_wait=0.01))
    with pytest.raises(DownloadError, match="HTTP 404"):
        registry.download(MODEL_ID)
    assert len(server.gets("model.pt")) == 1
    assert visible_models(isolated_home) == []


def test_slow_server_times_out(isolated_home, server, catalog):
    server.delay = 1.5
    registry = make_registry(isolated_home, catalog, TransferSettings(timeout=0.5, retries=1, retry_wait=0.01))
    start = time.monotonic()
    with pytest.raises(DownloadError, match="timed out|no data"):
        registry.download(MODEL_ID)
    assert time.monotonic() - start < 5
    assert visible_models(isolated_home) == []


def test_stalled_body_times_out(isolated_home, server, catalog):
    server.chunk_delay = 1.0
    registry = make_registry(isolated_home, catalog, TransferSettings(timeout=0.5, retries=0, retry_wait=0.01))
    with pytest.raises(DownloadError, match="timed out|no data"):
        registry.download(MODEL_ID)
    assert visible_models(isolated_home) == []


def test_no_network_says_how_to_install_offline(isolated_home, tmp_path, model_folder):
    import socket

    with socket.socket() as probe:  # a port nobody listens on: connection refused
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    catalog = write_catalog(tmp_path / "c.json", MODEL_ID, f"http://127.0.0.1:{port}", model_folder)
    with pytest.raises(OfflineError) as error:
        make_registry(isolated_home, catalog).download(MODEL_ID)
    message = str(error.value)
    assert "another machine" in message and "saltseg models install PATH --as test-model" in message
    assert f"http://127.0.0.1:{port}/files/model.pt" in message


def test_concurrent_downloads_fetch_once(isolated_home, server, catalog, caplog):
    """The first download is held (inside its progress callback, so holding the lock) until the
    second caller is seen waiting on that lock; the second then finds the model installed."""
    caplog.set_level(logging.INFO, logger="saltseg.models.lock")
    results, errors = {}, []

    def second_caller():
        try:
            results["second"] = make_registry(isolated_home, catalog).download(MODEL_ID)
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)

    second = threading.Thread(target=second_caller)

    def hold_until_the_second_waits(done, total, speed):
        if second.ident is None:
            second.start()
            deadline = time.monotonic() + 120  # a bound for a broken lock, never reached otherwise
            while not any("waiting for another saltseg process" in r.getMessage() for r in caplog.records):
                assert time.monotonic() < deadline, "the second caller never waited on the lock"
                time.sleep(0.01)

    results["first"] = make_registry(isolated_home, catalog).download(MODEL_ID, progress=hold_until_the_second_waits)
    second.join(120)
    assert not errors and not second.is_alive()
    assert results["first"] == results["second"]
    assert len(server.gets("model.pt")) == 1 and len(server.gets("config.pkl")) == 1


def test_cancel_leaves_nothing_visible_and_resumes_later(isolated_home, server, catalog, model_folder):
    server.chunk, server.chunk_delay = 1024, 0.03  # ~0.3 s for model.pt: progress fires mid-file
    token = CancelToken()

    def progress(done, total, speed):
        if done > 0:
            token.cancel()

    registry = make_registry(isolated_home, catalog)
    with pytest.raises(Cancelled):
        registry.download(MODEL_ID, progress=progress, cancel=token)
    assert visible_models(isolated_home) == []
    path = registry.download(MODEL_ID)
    assert server.gets("model.pt")[-1].startswith("bytes=")
    assert (path / "model.pt").read_bytes() == (model_folder / "model.pt").read_bytes()


def test_proxy_from_environment_is_used(isolated_home, server, tmp_path, model_folder, monkeypatch):
    serve_model(server, model_folder)
    # The host does not exist: only a working proxy (our server) can answer.
    catalog = write_catalog(tmp_path / "p.json", MODEL_ID, "http://models.invalid", model_folder)
    monkeypatch.setenv("http_proxy", server.base)
    monkeypatch.delenv("no_proxy")
    monkeypatch.delenv("NO_PROXY")
    path = make_registry(isolated_home, catalog).download(MODEL_ID)
    assert (path / "model.pt").is_file()
    assert any(p.startswith("http://models.invalid/files/") for p, _ in server.requests)


def test_wrong_size_from_server_is_not_retried(isolated_home, server, catalog):
    server.files["/files/model.pt"] = b"version https://git-lfs.github.com/spec/v1\n"  # an LFS pointer
    registry = make_registry(isolated_home, catalog, TransferSettings(timeout=2, retries=3, retry_wait=0.01))
    with pytest.raises(ChecksumError, match="bytes, the catalogue expects"):
        registry.download(MODEL_ID)
    assert len(server.gets("model.pt")) == 1
    assert visible_models(isolated_home) == []
