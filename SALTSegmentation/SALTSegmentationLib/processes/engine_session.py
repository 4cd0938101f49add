"""The engine process as the module sees it: started on demand with Slicer's Python, kept running
(with its model loaded) between requests, one request at a time.

A request's handler gets the engine's events (``progress``, ``done``, ``error``) and, if the
process ends while the request is open, ``crashed(message)``. The engine exits by itself after
its idle timeout; a request that raced with that exit is resent once to a fresh process.
"""
from __future__ import annotations

import json
import logging
import os
import re
import shutil
import sys
from collections import deque
from pathlib import Path
from typing import Callable, Optional, Protocol

from saltseg.service.protocol import BYE, CANCEL_REQUEST, DONE, ERROR, READY, decode

from .process_runner import ProcessRunner, SubprocessRunner, stop_runner

logger = logging.getLogger(__name__)

#: The folder holding ``saltseg`` (and this library): put on the engine's PYTHONPATH.
MODULE_DIR = Path(__file__).resolve().parents[2]
DEFAULT_IDLE_TIMEOUT = 300.0


class RequestHandler(Protocol):
    def on_event(self, event: dict) -> None: ...

    def on_crash(self, message: str) -> None: ...


def python_executable() -> str:
    """Slicer's own Python (``PythonSlicer``, on the PATH inside Slicer — as
    ``slicer.util.executePythonModule`` finds it), else this interpreter (tests, PythonSlicer)."""
    import slicer

    if getattr(slicer, "app", None) is None:
        return sys.executable
    return shutil.which("PythonSlicer") or sys.executable


def engine_environment() -> dict[str, str]:
    env = dict(os.environ)
    paths = [str(MODULE_DIR)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    env["PYTHONUNBUFFERED"] = "1"
    return env


#: The engine bundled with this module (next to it in the extension).
BUNDLED_SALTSEG = MODULE_DIR / "saltseg"
MISMATCH_KIND = "EngineMismatch"


def bundled_version(package: Path = BUNDLED_SALTSEG) -> str:
    """``__version__`` of the bundled ``saltseg``, read from its file: in Slicer's process
    ``import saltseg`` could itself find another copy."""
    text = (package / "__init__.py").read_text(encoding="utf-8")
    match = re.search(r"""^__version__\s*=\s*["']([^"']+)["']""", text, re.MULTILINE)
    return match.group(1) if match else ""


def _same_folder(a: str, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.normcase(os.path.realpath(a)) == os.path.normcase(os.path.realpath(b))


def identity_problem(ready: dict, package: Path = BUNDLED_SALTSEG) -> Optional[str]:
    """Why the process that sent ``ready`` must not be used (it runs another ``saltseg`` than the
    one bundled with the module), or None. The CTK launcher puts Slicer's site-packages on the
    path before the module's folder, so a ``pip install saltseg`` into Slicer's Python shadows it
    and the front end and engine would disagree on the protocol and the models."""
    path, version = ready.get("saltseg_path"), ready.get("saltseg_version")
    expected = bundled_version(package)
    if path and _same_folder(path, package) and version == expected:
        return None
    found = f"saltseg {version} from {path}" if path else "an older saltseg that does not say which it is"
    return (f"The SALT engine process loaded {found} instead of the copy bundled with this module "
            f"(saltseg {expected} in {package}). A saltseg installed into Slicer's Python takes precedence; "
            f"remove it (in Slicer's Python console: slicer.util.pip_uninstall('saltseg')) and try again.")


#: What the CTK launcher (``PythonSlicer``) writes on stderr when the program it runs crashed
#: (commontk/AppLauncher, ``ctkAppLauncherPrivate::applicationFinished``); it then exits with 1.
LAUNCHER_CRASH_TEXT = "exit abnormally - Report the problem."

ENGINE_CRASH_ADVICE = (" Nothing was changed in the scene. Try a smaller window batch size, the CPU device, "
                       "or a smaller volume.")


def describe_exit(exit_code: int, crashed: bool, stderr_tail: str, what: str = "The SALT engine process",
                  advice: str = ENGINE_CRASH_ADVICE) -> str:
    """What a user reads when a process died under a request."""
    if not crashed and LAUNCHER_CRASH_TEXT in stderr_tail:
        # Behind Slicer's PythonSlicer launcher a crash or kill of the real Python arrives as the
        # launcher's exit code 1 plus this line: the signal itself is lost.
        cause = "it crashed or was killed (most often by the system because memory ran out)"
    elif crashed and exit_code == 137:
        cause = "it was killed (most often by the system because memory ran out)"
    elif exit_code == -1:
        cause = "it could not be started"
    elif crashed and exit_code == 139:
        cause = "it crashed (segmentation fault)"
    elif crashed:
        cause = f"it crashed (signal {exit_code - 128})" if exit_code > 128 else "it crashed"
    else:
        cause = f"it exited with code {exit_code}"
    message = f"{what} stopped unexpectedly: {cause}.{advice}"
    detail = stderr_tail.strip().splitlines()[-3:]
    return message + ("\nLast output:\n" + "\n".join(detail) if detail else "")


class EngineSession:
    def __init__(self, runner_factory: Callable[[], ProcessRunner] = SubprocessRunner,
                 idle_timeout: float = DEFAULT_IDLE_TIMEOUT, python: Optional[str] = None) -> None:
        self._runner_factory = runner_factory
        self.idle_timeout = idle_timeout
        self.python = python or python_executable()
        self.runner: Optional[ProcessRunner] = None
        self.engine_pid: Optional[int] = None
        self._handler: Optional[RequestHandler] = None
        self._request: Optional[dict] = None
        self._resent = False
        self._said_bye = False
        self._stderr: deque[str] = deque(maxlen=40)
        #: Receives every line the engine writes besides its protocol (its stderr: warnings,
        #: tracebacks, library output) — the module's log panel.
        self.on_output: Optional[Callable[[str], None]] = None

    # ------------------------------------------------------------------ requests
    @property
    def busy(self) -> bool:
        return self._handler is not None

    def submit(self, request: dict, handler: RequestHandler) -> None:
        if self.busy:
            raise RuntimeError("the engine is busy with another request")
        self._handler, self._request, self._resent = handler, request, False
        self._send()

    def _send(self) -> None:
        if self.runner is None or not self.runner.is_running():
            self._start()
        for attempt in range(2):
            if self.runner is None:  # QProcess reported a failed start from within start():
                return  # _on_finished has already told the handler
            try:
                self.runner.write_line(json.dumps(self._request))
                return
            except (OSError, RuntimeError):  # it exited (idle timeout) between the check and the write
                if attempt:
                    raise
                self._start()

    def _start(self) -> None:
        old, self.runner = self.runner, None  # its finished() (emitted from kill) is then ignored
        stop_runner(old, self.engine_pid)  # a process that could not take the request must not linger
        runner = self._runner_factory()
        runner.on_stdout_line = self._on_stdout
        runner.on_stderr_line = self._on_stderr
        runner.on_finished = lambda code, crashed, r=runner: self._on_finished(r, code, crashed)
        self.runner, self.engine_pid, self._said_bye = runner, None, False
        self._stderr.clear()
        runner.start(self.python, ["-m", "saltseg.service", "serve", "--idle-timeout", str(self.idle_timeout)],
                     engine_environment())

    def release(self, handler: Optional[RequestHandler] = None) -> None:
        """Forget the open request (of ``handler``, or any); the process stays warm."""
        if handler is None or handler is self._handler:
            self._handler, self._request = None, None

    def cancel_request(self) -> bool:
        """Ask the engine to stop the open request after the window it is computing; the process
        and its model stay. The request's handler still gets its last event: the engine's
        ``Cancelled`` error (or ``done``, if it had just finished), or ``crashed``. False when there
        is no open request or no process to ask."""
        if self._handler is None or self.runner is None or not self.runner.is_running():
            return False
        try:
            self.runner.write_line(json.dumps(CANCEL_REQUEST))
        except (OSError, RuntimeError):  # it exited meanwhile: its finished() tells the handler
            return False
        self._resent = True  # a cancelled request is never sent again to a fresh process
        return True

    def stop(self) -> None:
        """End the engine process (and its children) now; the open request gets no more events."""
        self.release()
        runner, self.runner = self.runner, None
        stop_runner(runner, self.engine_pid)

    def wait_for_activity(self, timeout: float) -> None:
        if self.runner is not None:
            self.runner.wait_for_activity(timeout)

    # ------------------------------------------------------------------ process callbacks
    def _on_stdout(self, line: str) -> None:
        event = decode(line)
        if event is None:
            if line.strip():
                logger.info("engine: %s", line)
                self._output(line)
            return
        kind = event["event"]
        if kind == READY:
            self.engine_pid = event.get("pid")
            problem = identity_problem(event)
            if problem is not None:
                self._refuse(problem)
        elif kind == BYE:
            self._said_bye = True
        elif self._handler is not None:
            handler = self._handler
            if kind in (DONE, ERROR):
                self.release()
            handler.on_event(event)

    def _refuse(self, problem: str) -> None:
        """Stop an engine running the wrong ``saltseg``; the open request fails with ``problem``."""
        logger.error("%s", problem)
        handler = self._handler
        self.stop()
        if handler is not None:
            handler.on_event({"event": ERROR, "type": MISMATCH_KIND, "message": problem})

    def _on_stderr(self, line: str) -> None:
        self._stderr.append(line)
        logger.debug("engine stderr: %s", line)
        self._output(line)

    def _output(self, line: str) -> None:
        if self.on_output is not None:
            try:
                self.on_output(line)
            except Exception:  # noqa: BLE001 - the log must never break the engine's conversation
                logger.exception("showing the engine's output")

    def _on_finished(self, runner: ProcessRunner, exit_code: int, crashed: bool) -> None:
        if runner is not self.runner:
            return  # a process we stopped on purpose
        self.runner = None
        if self._handler is None:
            return
        if self._said_bye and not self._resent:  # it left on its idle timeout as the request arrived
            self._resent = True
            self._send()
            return
        handler = self._handler
        self.release()
        handler.on_crash(describe_exit(exit_code, crashed, "\n".join(self._stderr)))
