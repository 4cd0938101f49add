"""However the engine process ends — its stdin closes in the middle of a run (Slicer quit or
crashed), its idle timeout, a SIGTERM — no process it or its libraries started stays behind (a
forked helper of OpenVINO's telemetry once stayed, deadlocked, holding 0.7 GB). The engine runs as
the Slicer module starts it, with a helper child started inside it the way a library would."""
from __future__ import annotations

import ctypes
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from process_guard_support import guarded_environment, helper_pid, kill_all, remaining_after, session_members

from SALTSegmentationLib.processes.engine_session import engine_environment
from SALTSegmentationLib.processes.process_runner import SubprocessRunner

posix_only = pytest.mark.skipif(not Path("/proc").is_dir(), reason="lists the engine's processes through /proc")

DEMO = "salt-phantom-demo"  # bundled; long enough on the shared CT to act during inference


class Engine:
    """``python -m saltseg.service serve`` in a session of its own, as the module starts it."""

    def __init__(self, folder: Path, *args: str) -> None:
        self.lines: list[str] = []
        self.runner = SubprocessRunner()
        self.runner.on_stdout_line = self.lines.append
        env = guarded_environment(folder, base=engine_environment(), helper=True)
        self.runner.start(sys.executable, ["-m", "saltseg.service", "serve", *args], env)
        self.pid = self.runner.pid()
        self.helper = helper_pid(folder)

    def wait_for(self, text: str, within: float = 120.0) -> None:
        deadline = time.monotonic() + within
        while not any(text in line for line in self.lines):
            assert time.monotonic() < deadline, f"no {text} from the engine within {within} s: {self.lines}"
            self.runner.wait_for_activity(0.05)

    def exited(self, within: float) -> bool:
        try:
            self.runner._process.wait(timeout=within)
        except subprocess.TimeoutExpired:
            return False
        return True

    def clean_up(self) -> None:
        kill_all(session_members(self.pid) + [self.pid, self.helper])


@posix_only
def test_closing_stdin_mid_run_ends_the_engine_and_everything_it_started(tmp_path, shared_data):
    engine = Engine(tmp_path)
    try:
        engine.runner.write_line(json.dumps({"op": "segment", "input": str(shared_data / "example_ct_sm.nii.gz"),
                                             "labelmap": str(tmp_path / "out.nrrd"), "model": DEMO, "device": "cpu"}))
        engine.wait_for('"inference"')
        engine.runner._process.stdin.close()
        assert engine.exited(within=5.0)
        assert remaining_after(engine.pid, within=30.0) == []
    finally:
        engine.clean_up()


@posix_only
def test_the_idle_timeout_ends_the_engine_and_everything_it_started(tmp_path):
    engine = Engine(tmp_path, "--idle-timeout", "1")
    try:
        engine.wait_for('"bye"')
        assert engine.exited(within=10.0)
        assert remaining_after(engine.pid, within=30.0) == []
    finally:
        engine.clean_up()


@posix_only
def test_sigterm_ends_the_engine_and_everything_it_started(tmp_path):
    engine = Engine(tmp_path)
    try:
        engine.wait_for('"ready"')
        os.kill(engine.pid, signal.SIGTERM)
        assert engine.exited(within=10.0)
        assert engine.runner._process.returncode == -signal.SIGTERM
        assert remaining_after(engine.pid, within=30.0) == []
    finally:
        engine.clean_up()


@pytest.mark.skipif(ctypes.sizeof(ctypes.c_void_p) != 8, reason="the 64-bit layout")
def test_the_windows_job_limits_have_the_sdk_layout():
    """What SetInformationJobObject reads: sizeof(JOBOBJECT_EXTENDED_LIMIT_INFORMATION) is 144 on
    64-bit Windows, and LimitFlags (the kill-on-close flag) sits at offset 16 of it."""
    from saltseg.service.windows_job import JOBOBJECT_BASIC_LIMIT_INFORMATION, JOBOBJECT_EXTENDED_LIMIT_INFORMATION

    assert ctypes.sizeof(JOBOBJECT_EXTENDED_LIMIT_INFORMATION) == 144
    assert JOBOBJECT_BASIC_LIMIT_INFORMATION.LimitFlags.offset == 16
