"""The :class:`~.process_runner.ProcessRunner` for Slicer: a ``QProcess``, so the engine's output
arrives through Qt signals on the main thread while Slicer's event loop runs — no Python thread,
no polling timer.

PythonQt details (checked against MeVisLab/pythonqt and Slicer's DICOMProcesses): signals are
connected by their normalized C++ signature; ``readAllStandardOutput()`` returns a wrapped
``QByteArray`` whose ``data()`` gives Python ``bytes`` (``str()`` of it would be a repr); a
Python ``bytes`` argument converts to ``QByteArray`` for ``write``.
"""
from __future__ import annotations

import logging
from typing import Optional, Sequence

import qt

from .process_output import FAILED_START, LineSplitter as _LineSplitter, exit_code_of, failed_start_message
from .process_runner import FinishedCallback, LineCallback, kill_process_tree

logger = logging.getLogger(__name__)


class QProcessRunner:
    def __init__(self) -> None:
        self.on_stdout_line: Optional[LineCallback] = None
        self.on_stderr_line: Optional[LineCallback] = None
        self.on_finished: Optional[FinishedCallback] = None
        self._process: Optional["qt.QProcess"] = None
        self._stdout = _LineSplitter()
        self._stderr = _LineSplitter()

    def start(self, program: str, args: Sequence[str], env: Optional[dict[str, str]] = None) -> None:
        if self.is_running():
            raise RuntimeError("the process is already running")
        process = qt.QProcess()
        if env is not None:
            environment = qt.QProcessEnvironment()
            for key, value in env.items():
                environment.insert(key, value)
            process.setProcessEnvironment(environment)
        process.connect("readyReadStandardOutput()", self._read_stdout)
        process.connect("readyReadStandardError()", self._read_stderr)
        process.connect("finished(int,QProcess::ExitStatus)", self._finished)
        process.connect("errorOccurred(QProcess::ProcessError)", self._error)
        self._process = process
        self._stdout, self._stderr = _LineSplitter(), _LineSplitter()
        process.start(program, list(args))

    def _read_stdout(self) -> None:
        for line in self._stdout.feed(bytes(self._process.readAllStandardOutput().data())):
            if self.on_stdout_line is not None:
                self.on_stdout_line(line)

    def _read_stderr(self) -> None:
        for line in self._stderr.feed(bytes(self._process.readAllStandardError().data())):
            if self.on_stderr_line is not None:
                self.on_stderr_line(line)

    def _finished(self, exit_code: int, exit_status) -> None:
        self._read_stdout()
        self._read_stderr()
        crashed = exit_status == qt.QProcess.CrashExit
        if self.on_finished is not None:
            self.on_finished(exit_code_of(exit_code, crashed), crashed)

    def _error(self, error) -> None:
        # Only a failed start never reaches finished(); the other errors are followed by it.
        if error == qt.QProcess.FailedToStart:
            if self.on_stderr_line is not None:
                self.on_stderr_line(failed_start_message(self._process.errorString()))
            if self.on_finished is not None:
                self.on_finished(*FAILED_START)

    def write_line(self, text: str) -> None:
        if not self.is_running():
            raise RuntimeError("the process is not running")
        self._process.write((text.rstrip("\n") + "\n").encode("utf-8"))

    def kill(self) -> list[int]:
        if not self.is_running():
            return []
        ended = kill_process_tree(self.pid())
        self._process.kill()
        # Wait for the end (handles closed) before the caller removes the folder it wrote to;
        # finished() is emitted from here, synchronously.
        if not self._process.waitForFinished(2000):
            logger.warning("process %s did not end within 2 s of being killed", ended[:1])
        return ended

    def is_running(self) -> bool:
        return self._process is not None and self._process.state() != qt.QProcess.NotRunning

    def pid(self) -> Optional[int]:
        if self._process is None:
            return None
        return int(self._process.processId()) or None

    def wait_for_activity(self, timeout: float) -> None:
        # The waitFor* calls emit readyRead…/finished() synchronously, so the slots above run here.
        if self.is_running():
            self._process.waitForReadyRead(max(1, int(timeout * 1000)))
