"""The engine process that runs the server's jobs: ``python -m saltseg.service serve``, the same
process the Slicer module starts, kept running with its model loaded.

Running the jobs in a process of their own keeps the server up whatever a job does: a crash in a
native library, a CUDA error that spoils the process's GPU context, or the kernel killing it for
memory ends that job only; the server starts a fresh engine for the next one. A job is cancelled
by the service's ``cancel`` request (the model stays loaded) or, if it does not stop, by killing
the process.
"""
from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO, Any, Callable, Optional

from ..service.protocol import CANCEL_REQUEST, DONE, ERROR, READY, decode

logger = logging.getLogger(__name__)


class WorkerDied(Exception):
    """The engine process ended while the server waited for its answer."""

    def __init__(self, returncode: Optional[int]) -> None:
        self.returncode = returncode
        how = (f"was killed (signal {-returncode}{', out of memory?' if returncode == -signal.SIGKILL else ''})"
               if returncode is not None and returncode < 0 else f"exited with code {returncode}")
        super().__init__(f"the engine process {how} during the job; the server started a fresh one")


class EngineWorker:
    def __init__(self, cwd: Path, home: Optional[str] = None) -> None:
        self.cwd = cwd
        self.home = home
        self._process: Optional[subprocess.Popen] = None
        self._write_lock = threading.Lock()
        self.starts = 0

    @property
    def alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        command = [sys.executable, "-m", "saltseg.service", *(["--home", self.home] if self.home else []),
                   "serve", "--idle-timeout", "0"]
        self._process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=self.cwd,
                                         text=True, encoding="utf-8", bufsize=1, start_new_session=True)
        self.starts += 1
        event = self._next_event()
        if event.get("event") != READY:
            raise WorkerDied(self._process.poll())
        logger.info("engine process %s ready", event.get("pid"))

    def ensure_started(self) -> None:
        if not self.alive:
            self.stop()
            self.start()

    def _stdout(self) -> IO[str]:
        assert self._process is not None and self._process.stdout is not None
        return self._process.stdout

    def _next_event(self) -> dict[str, Any]:
        while True:
            line = self._stdout().readline()
            if not line:
                assert self._process is not None
                try:
                    code = self._process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    code = None
                raise WorkerDied(code)
            event = decode(line)
            if event is not None:
                return event

    def _send(self, message: dict[str, Any]) -> None:
        assert self._process is not None and self._process.stdin is not None
        with self._write_lock:
            self._process.stdin.write(json.dumps(message) + "\n")
            self._process.stdin.flush()

    def request(self, message: dict[str, Any], on_event: Optional[Callable[[dict[str, Any]], None]] = None,
                on_sent: Optional[Callable[[], None]] = None) -> dict[str, Any]:
        """Send ``message``, then call ``on_sent``; the final event (``done`` or ``error``), the others
        passed to ``on_event``. :class:`WorkerDied` if the process ends meanwhile."""
        try:
            self._send(message)
        except OSError:
            raise WorkerDied(self._process.poll() if self._process else None) from None
        if on_sent is not None:
            on_sent()
        while True:
            event = self._next_event()
            if event.get("event") in (DONE, ERROR):
                return event
            if on_event is not None:
                on_event(event)

    def cancel(self) -> None:
        """Ask the running job to stop (it ends with a ``Cancelled`` error event)."""
        try:
            self._send(CANCEL_REQUEST)
        except (OSError, AssertionError, ValueError):
            pass

    def kill(self) -> None:
        """End the process and everything it started at once."""
        process = self._process
        if process is None or process.poll() is not None:
            return
        try:
            if hasattr(os, "killpg"):
                os.killpg(process.pid, signal.SIGKILL)
            else:  # Windows: the service's job object ends its children with it
                process.kill()
        except (ProcessLookupError, PermissionError):
            pass
        process.wait()

    def stop(self, timeout: float = 10.0) -> None:
        """Let the process go (a closed input ends it), killing it if it does not."""
        process, self._process = self._process, None
        if process is None:
            return
        try:
            if process.stdin is not None:
                process.stdin.close()
        except OSError:
            pass
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self._process = process
            self.kill()
            self._process = None
        if process.stdout is not None:
            process.stdout.close()
