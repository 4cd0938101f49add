"""A SALT server that dies mid-job, and an engine that dies mid-job: the client says so and writes
nothing, the server's leftovers are removed when it starts again, and an engine crash fails its
job only."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import pytest

from saltseg.remote.address import ServerAddress
from saltseg.remote.client import ServerConnection
from saltseg.service.process_tree import descendants
from server_support import start_server, write_token

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")


def wait_until_running(connection: ServerConnection, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while connection.request_json("GET", "/info")["queue"]["running"] == 0:
        assert time.monotonic() < deadline, "no job started"
        time.sleep(0.1)


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return False


@pytest.fixture(scope="module")
def killed_mid_job(tmp_path_factory, small_threshold_model, shared_data):
    """A client segmenting on a server that is killed (SIGKILL) while the job runs."""
    if not os.path.isdir("/proc"):
        pytest.skip("needs /proc to find the server's engine process")
    root = tmp_path_factory.mktemp("killed")
    write_token(root / "token")
    server = start_server(root / "work", small_threshold_model, root / "token")
    (root / "out").mkdir()
    client = subprocess.Popen([sys.executable, "-m", "saltseg", "segment", str(shared_data / "example_ct.nii.gz"),
                               "-o", str(root / "out" / "ct.seg.nrrd"), "--statistics", str(root / "out" / "ct.csv"),
                               "--overlap", "0.9", "--server", server.url, "--token-file", str(root / "token"),
                               "--quiet"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_until_running(ServerConnection(ServerAddress(server.url, server.token)))
        engines = descendants(server.process.pid)
        os.kill(server.process.pid, signal.SIGKILL)
        server.process.wait()
        _, stderr = client.communicate(timeout=120)
    finally:
        client.kill()
    left = server.job_files()
    restarted = start_server(root / "work", small_threshold_model, root / "token")
    after_restart = restarted.job_files()
    restarted.stop()
    deadline = time.monotonic() + 20
    while any(alive(pid) for pid in engines) and time.monotonic() < deadline:
        time.sleep(0.1)
    return {"code": client.returncode, "stderr": stderr, "outputs": sorted(os.listdir(root / "out")), "left": left,
            "after_restart": after_restart, "engines_alive": [pid for pid in engines if alive(pid)]}


def test_the_client_fails(killed_mid_job):
    assert killed_mid_job["code"] == 1


def test_the_client_says_the_server_went_away(killed_mid_job):
    assert re.search(r"^saltseg: error: .*SALT server at http://127\.0\.0\.1:\d+ .*(stopped|crashed).*; nothing was "
                     r"written$", killed_mid_job["stderr"], re.MULTILINE), killed_mid_job["stderr"]


def test_the_client_writes_nothing(killed_mid_job):
    assert killed_mid_job["outputs"] == []


def test_the_killed_server_left_its_job_behind(killed_mid_job):
    assert killed_mid_job["left"] != []


def test_the_next_start_removes_what_it_left(killed_mid_job):
    assert killed_mid_job["after_restart"] == []


def test_the_killed_servers_engine_ends_too(killed_mid_job):
    assert killed_mid_job["engines_alive"] == []


@pytest.fixture(scope="module")
def engine_crash(tmp_path_factory, small_threshold_model, shared_data):
    """The engine process killed (as by the kernel for memory) during a job, then another job."""
    if not os.path.isdir("/proc"):
        pytest.skip("needs /proc to find the server's engine process")
    root = tmp_path_factory.mktemp("crash")
    write_token(root / "token")
    server = start_server(root / "work", small_threshold_model, root / "token")
    try:
        connection = ServerConnection(ServerAddress(server.url, server.token))
        job = server.create_job({"output": ".nrrd", "options": {"overlap": 0.9}})  # minutes of work
        connection.upload(f"/jobs/{job}/input", shared_data / "example_ct.nii.gz")
        wait_until_running(connection)
        [engine] = descendants(server.process.pid)
        os.kill(engine, signal.SIGKILL)
        crashed = [status for status in connection.events(job)][-1]
        second = server.create_job({"output": ".nrrd"})
        connection.upload(f"/jobs/{second}/input", shared_data / "example_ct_sm.nii.gz")
        after = [status for status in connection.events(second)][-1]
    finally:
        server.stop()
    return crashed, after


def test_an_engine_crash_fails_its_job(engine_crash):
    crashed, _ = engine_crash
    assert (crashed["state"], crashed["error"]["type"]) == ("failed", "EngineCrashed")


def test_the_crash_message_says_what_happened(engine_crash):
    crashed, _ = engine_crash
    assert "was killed (signal 9, out of memory?)" in crashed["error"]["message"]


def test_the_next_job_runs_on_a_fresh_engine(engine_crash):
    _, after = engine_crash
    assert after["state"] == "done"
