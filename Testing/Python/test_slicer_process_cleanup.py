"""Cancel leaves nothing behind, on any OS: the whole process tree ends (the launcher, the real
Python behind it and what that started — pip's builds, the engine's workers), even before the
process said ``ready``; the run's temporary folder is removed only once the engine has ended, with
brief retries (Windows keeps a killed process's files open a moment), and a folder that still
cannot be removed is reported to the user."""
from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import pytest

from slicer_test_support import fake_python_slicer, process_gone

from SALTSegmentationLib.processes.process_runner import SubprocessRunner
from SALTSegmentationLib.processes.process_task import ProcessTask
from SALTSegmentationLib.processes.temp_folder import leftover_message, remove_folder

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX process groups; Windows uses taskkill /T")

#: A child that starts a grandchild (like pip starting a build), records both pids, says so on
#: stderr and then works "forever" — it never sends the protocol's ``ready``.
TREE_CHILD = r"""
import os, subprocess, sys, time
grandchild = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
open(sys.argv[1], "w").write(f"{os.getpid()} {grandchild.pid}")
sys.stderr.write("started\n"); sys.stderr.flush()
time.sleep(600)
"""


def kill_leftovers(pids) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def test_cancel_before_ready_ends_the_launcher_its_child_and_grandchild(tmp_path):
    launcher = fake_python_slicer(tmp_path)
    pid_file = tmp_path / "pids"
    lines: list[str] = []
    task = ProcessTask([[launcher, "-c", TREE_CHILD, str(pid_file)]], SubprocessRunner, on_line=lines.append).start()
    deadline = time.monotonic() + 60
    while "started" not in lines:
        assert time.monotonic() < deadline and not task.finished, task.error
        task.wait(timeout=0.05)
    child, grandchild = map(int, pid_file.read_text().split())
    launcher_pid = task.runner.pid()
    assert task.child_pid is None  # no "ready": only the launcher's pid is known
    try:
        task.cancel()
        assert task.cancelled and task.error == "Cancelled."
        # kill → wait for the end: all three have ended when cancel() returns.
        assert [process_gone(pid, 0) for pid in (launcher_pid, child, grandchild)] == [True, True, True]
    finally:
        kill_leftovers((child, grandchild))


def test_removal_is_retried_while_windows_still_holds_the_files(tmp_path):
    folder = tmp_path / "SALTSegmentation-run"
    (folder / "sub").mkdir(parents=True)
    (folder / "input.nrrd").write_bytes(b"x" * 1000)
    attempts = []

    def remove_like_windows(path: Path) -> None:
        # What Windows answers for a file a just-terminated process still has open.
        attempts.append(path)
        if len(attempts) < 3:
            raise PermissionError(32, "The process cannot access the file because it is being used", str(path))
        import shutil

        shutil.rmtree(path)

    assert remove_folder(folder, attempts=5, delay=0, remove=remove_like_windows)
    assert not folder.exists() and len(attempts) == 3


def test_a_folder_that_cannot_be_removed_is_reported(tmp_path):
    folder = tmp_path / "SALTSegmentation-run"
    folder.mkdir()
    (folder / "result.nrrd").write_bytes(b"x")

    def always_in_use(path: Path) -> None:
        raise PermissionError(32, "being used by another process", str(path))

    assert not remove_folder(folder, attempts=3, delay=0, remove=always_in_use)
    assert folder.exists()
    assert str(folder) in leftover_message(folder)
    assert remove_folder(tmp_path / "never-created")  # nothing to remove is not an error
