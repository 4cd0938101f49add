"""One segmentation run in the engine process, seen from Slicer's main thread.

The job owns a temporary folder (the CT written for the engine, the labelmap it writes back),
which is removed in every outcome. Its callbacks — progress, importing the result into MRML,
failure — run on the thread that delivers the engine's events: Slicer's main thread (QProcess
signals) or the thread calling :meth:`EngineJob.wait`.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

from saltseg.errors import Cancelled, SaltSegError
from saltseg.service.errors import error_from_event
from saltseg.io.writers import present_values
from saltseg.tree.label_table import LabelEntry, label_table
from saltseg.tree.labeltree import LabelTree

from .engine_session import EngineSession
from .temp_folder import leftover_message, remove_folder

logger = logging.getLogger(__name__)

ProgressCallback = Callable[[str, float], None]


class EngineError(SaltSegError):
    """An error the engine reported; ``kind`` is the engine's exception class name."""

    def __init__(self, message: str, kind: str = "") -> None:
        super().__init__(message)
        self.kind = kind


class EngineCrashed(SaltSegError):
    """The engine process ended under a request (crash, killed by the system, failed start)."""


def engine_error(kind: str, message: str) -> SaltSegError:
    """The engine's error as an exception of the engine's own class (so callers can test
    ``isinstance(error, ModelNotInstalledError)``), with the message verbatim; an
    :class:`EngineError` for what is no engine error class (``InternalError``)."""
    return error_from_event(kind, message) or EngineError(message, kind)


@dataclass
class EngineResult:
    """What the engine sent back: the labelmap on the input grid and its label tree."""

    labelmap: Any  # SimpleITK image
    tree: LabelTree
    model_id: str = ""
    warnings: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    device: str = ""
    model_reused: bool = False
    #: the window placement the engine ran (the model's certified one unless the request chose)
    window_placement: str = ""
    #: the files the engine wrote for ``segment(outputs=...)`` (besides the labelmap it sent back)
    written: list[str] = field(default_factory=list)
    #: ``segment(probabilities=...)``: tree path → the node's probability map file
    probability_maps: dict[str, str] = field(default_factory=dict)
    #: ``segment(confidence=True)``: the confidence map file (the chosen leaf's probability), or None
    confidence_map: Optional[str] = None

    @property
    def present_values(self) -> list[int]:
        return present_values(self.labelmap, self.tree.background_value)

    def label_table(self) -> list[LabelEntry]:
        return label_table(self.tree, self.present_values)


def read_result(event: dict) -> EngineResult:
    import SimpleITK as sitk

    return EngineResult(sitk.ReadImage(event["labelmap"]), LabelTree.from_json(event["tree"]),
                        event.get("model_id", ""), list(event.get("warnings", [])),
                        dict(event.get("timings", {})), event.get("device", ""),
                        bool(event.get("model_reused", False)), event.get("window_placement") or "",
                        [path for path in event.get("written", []) if path != event["labelmap"]],
                        dict(event.get("probability_maps") or {}), event.get("confidence_map") or None)


class EngineJob:
    PENDING, RUNNING, SUCCEEDED, FAILED, CANCELLED = "pending", "running", "succeeded", "failed", "cancelled"
    #: Cancel asked of the engine, which ends the job after the window it computes (not finished).
    CANCELLING = "cancelling"

    def __init__(self, session: EngineSession, request: dict, temp_dir: Path,
                 on_progress: Optional[ProgressCallback] = None,
                 on_success: Optional[Callable[[EngineResult], None]] = None,
                 on_failure: Optional[Callable[[BaseException], None]] = None) -> None:
        self.session = session
        self.request = request
        self.temp_dir = Path(temp_dir)
        self._on_progress = on_progress
        self._on_success = on_success
        self._on_failure = on_failure
        #: Called once with the job when it has finished, whatever the outcome.
        self.on_finished: Optional[Callable[["EngineJob"], None]] = None
        self.state = self.PENDING
        self.error: Optional[BaseException] = None
        self.result: Optional[EngineResult] = None
        self.started_at = 0.0
        #: Set when the temporary folder could not be removed (the user is told where it is).
        self.cleanup_error: Optional[str] = None
        self._cancel_reason = ""

    @property
    def finished(self) -> bool:
        return self.state in (self.SUCCEEDED, self.FAILED, self.CANCELLED)

    def start(self) -> "EngineJob":
        self.state, self.started_at = self.RUNNING, time.perf_counter()
        try:
            self.session.submit(self.request, self)
        except BaseException as error:  # noqa: BLE001 - e.g. Slicer's Python cannot be started
            self._fail(EngineCrashed(f"The SALT engine process could not be started: {error}"))
        return self

    # ------------------------------------------------------------------ engine events
    def on_event(self, event: dict) -> None:
        if self.finished:
            return
        kind = event["event"]
        if self.state == self.CANCELLING:  # only the request's end matters now; a result is dropped
            if kind in ("done", "error"):
                self._fail(Cancelled(self._cancel_reason))
            return
        if kind == "progress":
            if self._on_progress is not None:
                self._on_progress(event.get("stage", ""), float(event.get("fraction", 0.0)))
        elif kind == "done":
            try:
                result = read_result(event)
                if self._on_success is not None:
                    self._on_success(result)
            except BaseException as error:  # noqa: BLE001 - a failed import is the job's failure
                self._fail(error)
                return
            self.result = result
            self._finish(self.SUCCEEDED)
        elif kind == "error":
            self._fail(engine_error(event.get("type", ""), event.get("message", "")))

    def on_crash(self, message: str) -> None:
        if not self.finished:
            self._fail(Cancelled(self._cancel_reason) if self.state == self.CANCELLING else EngineCrashed(message))

    # ------------------------------------------------------------------ control
    def cancel(self, reason: str = "Segmentation cancelled by the user.", at_once: bool = False) -> None:
        """Nothing of this job reaches the scene. The engine is asked to stop after the window it
        computes: the job ends (:attr:`CANCELLED`) when the engine says so (seconds on a CPU), and
        the engine stays running with its model loaded for the next run; asking again changes
        nothing (the scene closing and the widget may both ask). ``at_once``, or an engine that
        cannot be asked: the engine process (and its children) is killed and the job ends now."""
        if self.finished or (self.state == self.CANCELLING and not at_once):
            return
        if not at_once and self.state == self.RUNNING and self.session.cancel_request():
            self.state, self._cancel_reason = self.CANCELLING, reason
            return
        self.session.stop()
        self._fail(Cancelled(self._cancel_reason or reason))

    def wait(self, timeout: Optional[float] = None, process_events: Optional[Callable[[], None]] = None,
             interval: float = 0.05) -> bool:
        """Deliver the engine's events until the job has finished (True) or ``timeout`` passed."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.finished:
            if deadline is not None and time.monotonic() >= deadline:
                return False
            self.session.wait_for_activity(interval)
            if process_events is not None:
                process_events()
        return True

    # ------------------------------------------------------------------ outcome
    def _fail(self, error: BaseException) -> None:
        self.error = error
        if self._on_failure is not None:
            try:
                self._on_failure(error)
            except Exception:  # noqa: BLE001 - cleaning up must not hide the original error
                logger.exception("cleaning up after a failed segmentation")
        self._finish(self.CANCELLED if isinstance(error, Cancelled) else self.FAILED)

    def _finish(self, state: str) -> None:
        self.state = state
        self.session.release(self)
        # The engine is done with the job's files: it ended the request, or was killed and waited
        # for; Windows may still hold them a moment, which remove_folder retries.
        if not remove_folder(self.temp_dir):
            self.cleanup_error = leftover_message(self.temp_dir)
        callback, self.on_finished = self.on_finished, None
        if callback is not None:
            callback(self)
