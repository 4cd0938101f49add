"""A one-shot command in a process (model download/install/remove/list, installing PyTorch), with
its progress, Cancel, and an outcome — the GUI thread never waits on it.

Commands run one after the other; the task fails at the first that fails. A command that speaks
the engine protocol (``python -m saltseg.service …``) reports ``progress`` and its result
(``done``) or its own error message (``error``); for any other command the last lines it wrote
on stderr explain a failure.
"""
from __future__ import annotations

import time
from pathlib import Path
from collections import deque
from typing import Callable, Optional, Sequence

from saltseg.service.protocol import DONE, ERROR, PROGRESS, READY, decode

from .engine_session import describe_exit, engine_environment, identity_problem
from .process_runner import ProcessRunner, SubprocessRunner, stop_runner


RUN_MODULE = "saltseg.service.run_module"


class ProcessTask:
    def __init__(self, commands: Sequence[Sequence[str]],
                 runner_factory: Callable[[], ProcessRunner] = SubprocessRunner,
                 on_progress: Optional[Callable[[str, float], None]] = None,
                 on_line: Optional[Callable[[str], None]] = None,
                 on_done: Optional[Callable[["ProcessTask"], None]] = None) -> None:
        self._commands = [list(c) for c in commands]
        self._runner_factory = runner_factory
        self._on_progress = on_progress
        self._on_line = on_line
        self.on_done = on_done
        self.runner: Optional[ProcessRunner] = None
        self.result: dict = {}
        self.error: Optional[str] = None
        self.cancelled = False
        self.finished = False
        self._stderr: deque[str] = deque(maxlen=20)
        self._engine_error: Optional[str] = None
        self.program = ""
        #: The pid the command reported (``ready``): the real Python behind Slicer's launcher.
        self.child_pid: Optional[int] = None

    def start(self) -> "ProcessTask":
        self._next()
        return self

    def _next(self) -> None:
        if not self._commands:
            self._finish(None)
            return
        program, *args = self._commands.pop(0)
        shown = [a for a in args if a != RUN_MODULE]  # "PythonSlicer -m pip install ...", as the user knows it
        self.program = " ".join([Path(program).name, *shown[:3]])
        self._stderr.clear()
        self.child_pid = None
        runner = self._runner_factory()
        runner.on_stdout_line = self._stdout
        runner.on_stderr_line = self._stderr_line
        runner.on_finished = lambda code, crashed, r=runner: self._finished(r, code, crashed)
        self.runner = runner
        try:
            runner.start(program, args, engine_environment())
        except OSError as error:
            self._finish(f"could not start {program}: {error}")

    def _stdout(self, line: str) -> None:
        event = decode(line)
        if event is None:
            if line.strip() and self._on_line is not None:
                self._on_line(line.strip())
        elif event["event"] == READY:
            self.child_pid = event.get("pid")
            problem = identity_problem(event)
            if problem is not None:  # another saltseg shadows the bundled one: stop it at once
                runner = self.runner
                self._finish(problem)  # first: the process's end (reported from kill) is then ignored
                stop_runner(runner, self.child_pid)
        elif event["event"] == PROGRESS and self._on_progress is not None:
            self._on_progress(event.get("stage", ""), float(event.get("fraction", 0.0)))
        elif event["event"] == DONE:
            self.result = event
        elif event["event"] == ERROR:
            self._engine_error = event.get("message", "")

    def _stderr_line(self, line: str) -> None:
        self._stderr.append(line)
        if line.strip() and self._on_line is not None:
            self._on_line(line.strip())

    def _finished(self, runner: ProcessRunner, exit_code: int, crashed: bool) -> None:
        if runner is not self.runner or self.finished or self.cancelled:
            return  # (QProcess reports a killed process from within kill(): Cancel decides)
        if exit_code == 0 and not crashed:
            self._next()
        elif self._engine_error is not None:
            self._finish(self._engine_error)
        else:
            self._finish(describe_exit(exit_code, crashed, "\n".join(self._stderr), what=self.program,
                                       advice=""))

    def cancel(self) -> None:
        if self.finished:
            return
        self.cancelled = True
        stop_runner(self.runner, self.child_pid)
        self._finish("Cancelled.")

    def wait(self, timeout: Optional[float] = None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.finished:
            if deadline is not None and time.monotonic() >= deadline:
                return False
            if self.runner is not None:
                self.runner.wait_for_activity(0.05)
        return True

    def _finish(self, error: Optional[str]) -> None:
        self.error, self.finished = error, True
        callback, self.on_done = self.on_done, None
        if callback is not None:
            callback(self)


def engine_command(python: str, action: str, *args: str, home: Optional[str] = None) -> list[str]:
    """``python -m saltseg.service [--home H] ACTION ARGS``."""
    return [python, "-m", "saltseg.service", *(["--home", home] if home else []), action, *args]


def module_command(python: str, module: str, *args: str) -> list[str]:
    """``python -m MODULE ARGS`` run through :mod:`saltseg.service.run_module`, which reports the
    real process's pid so that Cancel reaches it behind Slicer's ``PythonSlicer`` launcher."""
    return [python, "-m", RUN_MODULE, module, *args]
