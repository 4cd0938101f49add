"""What a SALT server takes at most, and what it says beyond: an upload its disk has no room for is
refused (HTTP 507, the client's CT was fine) and nothing of it is kept — before it is read when its
announced length does not fit, cut off when the disk fills while it arrives; a job beyond
``--max-jobs`` unfinished ones is refused as busy (HTTP 503) until one has finished."""
from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import pytest

from server_support import auth_header, raw_exchange, start_server, write_token

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

MAX_JOBS = 3


@pytest.fixture(scope="module")
def server(tmp_path_factory, small_threshold_model):
    root = tmp_path_factory.mktemp("storage")
    write_token(root / "token")
    # No upload limit to speak of: what stops an upload here is the disk.
    running = start_server(root / "work", small_threshold_model, root / "token",
                           ["--max-upload-mb", str(10 ** 9), "--max-jobs", str(MAX_JOBS)])
    yield running
    running.stop()


def larger_than_the_disk(server) -> str:
    job = server.create_job()
    length = shutil.disk_usage(server.work_dir).free + (1 << 30)
    return f"PUT /v1/jobs/{job}/input HTTP/1.1\r\nHost: x\r\n{auth_header(server)}\r\nContent-Length: {length}"


def test_an_upload_that_does_not_fit_on_the_disk_is_refused_before_it_is_read(server):
    # 64 KiB of the announced length are sent: the answer comes without the rest
    assert raw_exchange(server, larger_than_the_disk(server), b"\0" * 65536).split(" ")[1] == "507"


def test_an_upload_that_does_not_fit_leaves_nothing(server):
    raw_exchange(server, larger_than_the_disk(server), b"\0" * 65536)
    assert server.wait_for_no_job_files() == []


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full (a device that is always full)")
def test_a_disk_that_fills_during_the_upload_is_a_storage_error_not_a_crash():
    from starlette.requests import Request

    from saltseg.remote.app import ApiError, _receive_file

    chunks = [{"type": "http.request", "body": b"\0" * 65536, "more_body": True}] * 3 + \
             [{"type": "http.request", "body": b"", "more_body": False}]

    async def receive():
        return chunks.pop(0)

    request = Request({"type": "http", "method": "PUT", "headers": []}, receive)
    with pytest.raises(ApiError) as refused:
        asyncio.run(_receive_file(request, Path("/dev/full"), 1 << 30, 5.0))
    assert (refused.value.status, refused.value.kind) == (507, "StorageFull")


def new_job(server) -> tuple[int, dict]:
    return server.request("POST", "/v1/jobs", json.dumps({"output": ".nrrd"}).encode(),
                          headers={"Content-Type": "application/json"})


def test_a_job_beyond_the_limit_is_refused_as_busy_until_one_has_finished(server):
    created, answers = [], []
    for _ in range(MAX_JOBS + 1):  # the jobs other tests left are refused or finished
        status, answer = new_job(server)
        answers.append((status, (answer.get("error") or {}).get("type")))
        if status == 201:
            created.append(answer["id"])
    assert answers[-1] == (503, "ServerBusy")
    server.request("DELETE", f"/v1/jobs/{created[0]}")  # one cancelled: room for one more
    status, answer = new_job(server)
    for job in created[1:] + ([answer["id"]] if status == 201 else []):
        server.request("DELETE", f"/v1/jobs/{job}")
    assert status == 201
