"""The engine service's ``server`` field, as the Slicer module uses it: a real engine process
(``python -m saltseg.service serve``) runs the job on a real SALT server and reports it as a local
run (progress, then ``done`` with the same keys, the labelmap where the job says); a ``models``
request lists the server's models; a ``cancel`` request (Slicer's Cancel) or killing the engine
(Cancel pressed again) ends the job on the server."""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Optional

import jsonschema
import pytest

from saltseg.job.description import SegmentJob
from saltseg.remote.address import ServerAddress
from saltseg.remote.client import ServerConnection
from saltseg.service.request_schema import request_schema
from server_support import start_server, write_token

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

#: The keys of a local run's ``done`` event (saltseg.service.server.segment_request).
LOCAL_DONE_KEYS = {"labelmap", "written", "tree", "model_id", "warnings", "timings", "device", "model_reused",
                   "model_loads", "window_placement", "probability_maps", "confidence_map"}


class Engine:
    """An engine process as the Slicer module starts it, its events read line by line."""

    def __init__(self) -> None:
        self.process = subprocess.Popen([sys.executable, "-m", "saltseg.service", "serve", "--idle-timeout", "0"],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                        start_new_session=True)
        assert self.next()["event"] == "ready"

    def send(self, request: dict) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()

    def next(self) -> dict:
        assert self.process.stdout is not None
        return json.loads(self.process.stdout.readline())

    def until(self, *events: str, stage: Optional[str] = None) -> list[dict]:
        seen = [self.next()]
        while seen[-1]["event"] not in events and (stage is None or seen[-1].get("stage") != stage):
            seen.append(self.next())
        return seen

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()


@pytest.fixture(scope="module")
def server(tmp_path_factory, small_threshold_model):
    root = tmp_path_factory.mktemp("served")
    write_token(root / "token")
    running = start_server(root / "work", small_threshold_model, root / "token")
    yield running
    running.stop()


@pytest.fixture(scope="module")
def where(server):
    return {"url": server.url, "token": server.token}


@pytest.fixture(scope="module")
def engine():
    process = Engine()
    yield process
    process.close()


@pytest.fixture(scope="module")
def remote_run(engine, where, shared_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("slicer")
    job = SegmentJob(input=shared_data / "example_ct_sm.nii.gz", labelmap=out / "labels.nrrd",
                     statistics=out / "statistics.csv")
    request = {**job.to_request(), "server": where}
    engine.send(request)
    return request, engine.until("done", "error"), out


def test_the_request_follows_the_published_schema(remote_run):
    request, _, _ = remote_run
    jsonschema.validate(request, request_schema())


def test_the_engine_relays_the_servers_progress(remote_run):
    _, events, _ = remote_run
    client_stages = {"connecting", "uploading", "queued", "downloading"}
    assert any(event["event"] == "progress" and event["stage"] not in client_stages for event in events)


def test_the_engine_reports_done(remote_run):
    _, events, _ = remote_run
    assert events[-1]["event"] == "done", events[-1]


def test_done_has_every_key_of_a_local_run(remote_run):
    _, events, _ = remote_run
    assert LOCAL_DONE_KEYS - set(events[-1]) == set()


def test_the_labelmap_is_where_the_job_says(remote_run):
    _, _, out = remote_run
    assert (out / "labels.nrrd").is_file()


def test_done_names_the_labelmap_where_the_job_says(remote_run):
    _, events, out = remote_run
    assert events[-1]["labelmap"] == str(out / "labels.nrrd")


def test_the_token_is_in_no_event(remote_run, where):
    _, events, _ = remote_run
    assert where["token"] not in json.dumps(events)


def test_models_lists_the_servers_models(engine, where, small_threshold_model):
    engine.send({"op": "models", "server": where})
    [answer] = [event for event in engine.until("models", "error") if event["event"] in ("models", "error")]
    assert answer["models"][0]["id"] == small_threshold_model.name


def test_the_models_request_follows_the_published_schema(where):
    jsonschema.validate({"op": "models", "server": where}, request_schema())


def slow_request(shared_data: Path, out: Path, where: dict) -> dict:
    """Minutes of work on the server (windows overlapping 90 % over the whole example CT)."""
    return {"op": "segment", "input": str(shared_data / "example_ct.nii.gz"), "labelmap": str(out / "labels.nrrd"),
            "options": {"overlap": 0.9}, "server": where}


def cancelled_count(server) -> int:
    return ServerConnection(ServerAddress(server.url, server.token)).request_json("GET", "/info")["queue"]["cancelled"]


def wait_for_cancelled(server, count: int, timeout: float = 30.0) -> int:
    deadline = time.monotonic() + timeout
    while cancelled_count(server) < count and time.monotonic() < deadline:
        time.sleep(0.2)
    return cancelled_count(server)


@pytest.fixture(scope="module")
def cancel_request(server, where, shared_data, tmp_path_factory):
    """A ``cancel`` request while the engine's job runs on the server: its last event, and the
    server's cancelled jobs before and after."""
    before = cancelled_count(server)
    engine = Engine()
    try:
        engine.send(slow_request(shared_data, tmp_path_factory.mktemp("cancel"), where))
        engine.until("done", "error", stage="inference")
        engine.send({"op": "cancel"})
        last = engine.until("done", "error")[-1]
    finally:
        engine.close()
    return last, before, wait_for_cancelled(server, before + 1)


def test_a_cancel_request_ends_the_request_cancelled(cancel_request):
    last, _, _ = cancel_request
    assert (last["event"], last.get("type")) == ("error", "Cancelled")


def test_a_cancel_request_cancels_the_job_on_the_server(cancel_request):
    _, before, after = cancel_request
    assert after == before + 1


def test_killing_the_engine_cancels_its_job_on_the_server(server, where, shared_data, tmp_path, cancel_request):
    before = cancelled_count(server)
    engine = Engine()
    try:
        engine.send(slow_request(shared_data, tmp_path, where))
        engine.until("done", "error", stage="inference")
    finally:
        engine.close()  # SIGKILL, as Slicer's Cancel ends the engine
    assert wait_for_cancelled(server, before + 1) == before + 1


def test_nothing_stays_on_the_server_after_the_cancels(server):
    assert server.wait_for_no_job_files() == []
