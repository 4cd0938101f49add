"""A small interface over one OS process, with two implementations: :class:`SubprocessRunner`
(plain ``subprocess``; pytest and scripts without an event loop) here, and ``QProcessRunner``
(event-driven, for Slicer) in :mod:`.qt_process`. The pattern of KitwareMedical/SlicerNNUnet: the
logic only sees this interface, so tests drive it with a real process.

Callbacks always run on the thread that owns the runner (Slicer's main thread): QProcess emits its
signals there, and :class:`SubprocessRunner` delivers what its reader threads queued only from
:meth:`~SubprocessRunner.wait_for_activity`.
"""
from __future__ import annotations

import logging
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from typing import Callable, Optional, Protocol, Sequence

logger = logging.getLogger(__name__)

LineCallback = Callable[[str], None]
#: ``on_finished(exit_code, crashed)``; ``crashed``: ended by a signal (segfault, kill) or failed to start.
FinishedCallback = Callable[[int, bool], None]


class ProcessRunner(Protocol):
    on_stdout_line: Optional[LineCallback]
    on_stderr_line: Optional[LineCallback]
    on_finished: Optional[FinishedCallback]

    def start(self, program: str, args: Sequence[str], env: Optional[dict[str, str]] = None) -> None: ...

    def write_line(self, text: str) -> None: ...

    def kill(self) -> Optional[list[int]]:
        """End the process and everything it started; returns the pids ended (to wait for)."""

    def is_running(self) -> bool: ...

    def pid(self) -> Optional[int]: ...

    def wait_for_activity(self, timeout: float) -> None:
        """Block at most ``timeout`` seconds until output or the end of the process has been
        delivered to the callbacks (for a caller without an event loop)."""


def kill_process_tree(pid: Optional[int]) -> list[int]:
    """End ``pid`` and every process below it, now; returns the pids it ended (to wait for).

    Windows: ``taskkill /T /F`` (TerminateProcess alone ends one process; pip's and the engine's
    children would go on). POSIX: the tree is listed first (killing a parent re-parents its
    children), then each process is killed, and the process group of each one that leads its own
    (the engine and ``run_module`` do, so their later children go too). This covers a Cancel
    before the ``ready`` message, when only the launcher's pid is known."""
    if not pid:
        return []
    if sys.platform == "win32":
        subprocess.run(["taskkill", "/T", "/F", "/PID", str(pid)], capture_output=True,
                       creationflags=getattr(subprocess, "CREATE_NO_WINDOW", 0), check=False)
        return [pid]
    # Imported here: this module loads at Slicer's start-up, where importing saltseg costs time.
    from saltseg.service.process_tree import descendants

    tree = [pid] + descendants(pid)
    own_group = os.getpgrp()
    for member in tree:
        try:
            if os.getpgid(member) == member and member != own_group:
                os.killpg(member, signal.SIGKILL)
            os.kill(member, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    return tree


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    try:  # an ended orphan waits for init to reap it: a zombie ("Z") holds no files any more
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().rpartition(")")[2].split()[0] == "Z"
    except OSError:
        return False


def wait_for_exit(pids: Sequence[int], timeout: float = 2.0) -> bool:
    """Wait until the killed processes have ended (their open files closed); True when they have.
    On Windows the removal of their folder retries instead (see :mod:`.temp_folder`)."""
    if sys.platform == "win32":
        return True
    deadline = time.monotonic() + timeout
    pending = list(pids)
    while pending:
        pending = [pid for pid in pending if not _gone(pid)]
        if not pending:
            return True
        if time.monotonic() >= deadline:
            logger.warning("processes %s did not end within %.1f s of being killed", pending, timeout)
            return False
        time.sleep(0.01)
    return True


def end_reported_process(pid: Optional[int]) -> list[int]:
    """End a process known by the pid it reported itself, with its children."""
    return kill_process_tree(pid)


def stop_runner(runner: Optional["ProcessRunner"], reported_pid: Optional[int]) -> None:
    """Kill ``runner``'s process and the Python process behind it. Slicer's ``PythonSlicer`` is a
    CTK launcher that runs the real interpreter (``python-real``) as its child, so the runner's
    pid is the launcher's and killing it alone would leave the engine (or a download) running:
    the pid the child reported is ended first, and only while the launcher still runs (the launcher
    exits as soon as its child does, so the pid is not a recycled one)."""
    if runner is None:
        return
    ended: list[int] = []
    if reported_pid and runner.is_running() and reported_pid != runner.pid():
        ended += end_reported_process(reported_pid)
    ended += runner.kill() or []
    wait_for_exit(ended)  # before the caller removes the folder the processes wrote to


class SubprocessRunner:
    def __init__(self) -> None:
        self.on_stdout_line: Optional[LineCallback] = None
        self.on_stderr_line: Optional[LineCallback] = None
        self.on_finished: Optional[FinishedCallback] = None
        self._process: Optional[subprocess.Popen] = None
        self._events: "queue.Queue[tuple[str, object]]" = queue.Queue()
        self._open_streams = 0
        self._finished_reported = True

    def start(self, program: str, args: Sequence[str], env: Optional[dict[str, str]] = None) -> None:
        if self.is_running():
            raise RuntimeError("the process is already running")
        self._events = queue.Queue()
        self._process = subprocess.Popen(
            [program, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env=env, text=True, encoding="utf-8", errors="replace", bufsize=1,
            start_new_session=sys.platform != "win32")
        self._finished_reported = False
        self._open_streams = 2
        for name, stream in (("stdout", self._process.stdout), ("stderr", self._process.stderr)):
            threading.Thread(target=self._read, args=(name, stream, self._events), daemon=True,
                             name=f"saltseg-{name}").start()

    @staticmethod
    def _read(name: str, stream, events: "queue.Queue") -> None:
        for line in stream:
            events.put((name, line.rstrip("\r\n")))
        events.put(("closed", name))

    def write_line(self, text: str) -> None:
        if not self.is_running():
            raise RuntimeError("the process is not running")
        self._process.stdin.write(text.rstrip("\n") + "\n")
        self._process.stdin.flush()

    def kill(self) -> list[int]:
        process = self._process
        if process is None or process.poll() is not None:
            return []
        ended = kill_process_tree(process.pid)
        process.kill()
        try:
            process.wait(timeout=2.0)  # reap it: no zombie left behind
        except subprocess.TimeoutExpired:
            logger.warning("process %s did not end within 2 s of SIGKILL", process.pid)
        try:  # as QProcess does once the process is gone: a child that outlived it reads EOF
            process.stdin.close()
        except OSError:
            pass
        return ended

    def is_running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def pid(self) -> Optional[int]:
        return self._process.pid if self._process is not None else None

    def wait_for_activity(self, timeout: float) -> None:
        if self._finished_reported:
            return
        try:
            self._deliver(self._events.get(timeout=timeout))
            while True:
                self._deliver(self._events.get_nowait())
        except queue.Empty:
            pass

    def _deliver(self, event: tuple[str, object]) -> None:
        kind, payload = event
        if kind == "stdout" and self.on_stdout_line is not None:
            self.on_stdout_line(str(payload))
        elif kind == "stderr" and self.on_stderr_line is not None:
            self.on_stderr_line(str(payload))
        elif kind == "closed":
            self._open_streams -= 1
            if self._open_streams == 0:  # both pipes closed: the process has ended (or is ending)
                code = self._process.wait()
                self._finished_reported = True
                for stream in (self._process.stdin,):
                    try:
                        stream.close()
                    except OSError:
                        pass
                if self.on_finished is not None:
                    self.on_finished(code if code >= 0 else 128 - code, code < 0)
