"""The server's jobs: one at a time, in the order their uploads completed, on one engine process.

A job is made (``waiting-for-upload``), queued once its CT passed the checks, run by the engine
(:class:`~.engine_worker.EngineWorker`), and ends ``done``, ``failed`` or ``cancelled``. A thread
runs the queue; another, the watchdog, cancels the jobs of clients that went away (no event
stream, upload or download open, and no request for ``client_timeout`` seconds), forgets finished
jobs that nobody fetched within ``keep_results`` seconds, and kills an engine that does not stop
a cancelled job within ``cancel_grace`` seconds. Every job's files live in its own folder of the
:class:`~.workspace.Workspace`, removed when the job is cancelled, failed, fully downloaded or forgotten.
"""
from __future__ import annotations

import logging
import os
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional

from .api import CANCELLED, DONE, FAILED, FINISHED, QUEUED, RUNNING, WAITING
from .engine_worker import EngineWorker, WorkerDied
from .job_spec import ServerJob
from .workspace import Workspace, job_file

logger = logging.getLogger(__name__)


class QueueFull(Exception):
    """The server holds as many unfinished jobs as it takes (``max_jobs``)."""


@dataclass
class Job:
    id: str
    folder: Path
    spec: ServerJob
    created: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))
    state: str = WAITING
    last_seen: float = field(default_factory=time.monotonic)
    #: Open event streams, uploads and downloads of the job: its client is there.
    attached: int = 0
    stage: str = ""
    fraction: float = 0.0
    warnings: list[str] = field(default_factory=list)
    error: Optional[dict[str, str]] = None
    result: Optional[dict[str, Any]] = None
    files: dict[str, Path] = field(default_factory=dict)
    downloaded: set[str] = field(default_factory=set)
    finished_at: Optional[float] = None
    cancel_at: Optional[float] = None
    #: Its place in the order of queueing (uploads completed) and of running: the same order.
    ticket: Optional[int] = None
    turn: Optional[int] = None
    #: When its client's event stream closed before the job ended (the client was killed, say).
    stream_closed_at: Optional[float] = None
    #: Raised at every change a client should hear of (the event streams compare it).
    version: int = 0


class JobQueue:
    def __init__(self, workspace: Workspace, worker: EngineWorker, warm_request: Optional[dict[str, Any]] = None, *,
                 client_timeout: float = 30.0, keep_results: float = 3600.0, cancel_grace: float = 10.0,
                 disconnect_grace: float = 2.0, max_jobs: Optional[int] = None) -> None:
        self.workspace = workspace
        self.worker = worker
        self.warm_request = warm_request
        self.client_timeout = client_timeout
        self.keep_results = keep_results
        self.cancel_grace = cancel_grace
        self.disconnect_grace = disconnect_grace
        #: Unfinished jobs (waiting for their upload, queued, running) held at once; None: no limit.
        self.max_jobs = max_jobs
        self.jobs: dict[str, Job] = {}
        self.pending: list[Job] = []
        self.current: Optional[Job] = None
        self.completed = 0
        self.cancelled = 0
        self._tickets = 0
        self._turns = 0
        self._lock = threading.RLock()
        self._wake = threading.Condition(self._lock)
        self._stopping = False
        self._threads: list[threading.Thread] = []
        self.warm: dict[str, Any] = {}

    # -- life ----------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the engine, load the default model (an error here stops the server's start), and
        the runner and watchdog threads."""
        self.worker.start()
        self._warm(strict=True)
        for target, name in ((self._run, "job-runner"), (self._watch, "job-watchdog")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def _warm(self, strict: bool) -> None:
        if self.warm_request is None:
            return
        answer = self.worker.request(self.warm_request)
        if answer.get("event") != "done":
            from ..service.errors import error_from_event

            error = error_from_event(answer.get("type", ""), answer.get("message", ""))
            if strict:
                raise error or RuntimeError(answer.get("message", "the engine could not load the model"))
            logger.error("the engine could not load the model again: %s", answer.get("message"))
            return
        self.warm = {key: answer.get(key) for key in ("model_id", "device")}
        logger.info("model %s loaded on %s", answer.get("model_id"), answer.get("device"))

    def stop(self) -> None:
        """Cancel every job, end the engine and remove every job's files."""
        with self._lock:
            self._stopping = True
            for job in list(self.jobs.values()):
                if job.state not in FINISHED:
                    self._set_cancelled(job, "the server is shutting down")
            self._wake.notify_all()
        self.worker.kill()
        for thread in self._threads:
            thread.join(timeout=15)
        self.worker.stop()

    # -- jobs ----------------------------------------------------------------------------------

    def create(self, make_spec) -> Job:
        """A new job: ``make_spec(job_id)`` turns the client's request into the server's;
        :class:`QueueFull` when ``max_jobs`` unfinished jobs are held already."""
        job_id = secrets.token_hex(16)
        spec = make_spec(job_id)
        with self._lock:
            unfinished = sum(1 for job in self.jobs.values() if job.state not in FINISHED)
            if self.max_jobs is not None and unfinished >= self.max_jobs:
                raise QueueFull(f"the server is busy: it holds {unfinished} unfinished jobs, as many as it takes; "
                                "try again when some have finished")
            job = Job(job_id, self.workspace.create_job_folder(job_id), spec)
            self.jobs[job_id] = job
        return job

    def get(self, job_id: str) -> Optional[Job]:
        with self._lock:
            job = self.jobs.get(job_id)
            if job is not None:
                job.last_seen = time.monotonic()
            return job

    def enqueue(self, job: Job, request: dict[str, Any], warnings: list[str]) -> None:
        with self._lock:
            if job.state != WAITING:  # cancelled meanwhile
                return
            job.spec.request = request
            job.warnings = warnings
            job.state = QUEUED
            self._tickets += 1
            job.ticket = self._tickets
            self.pending.append(job)
            self._changed(job)
            self._wake.notify_all()

    def discard(self, job: Job) -> None:
        """Forget a job that never got a valid upload (its client was told why)."""
        with self._lock:
            self._forget(job)

    def attach(self, job: Job) -> None:
        with self._lock:
            job.attached += 1
            job.last_seen = time.monotonic()
            job.stream_closed_at = None

    def detach(self, job: Job, stream_closed: bool = False) -> None:
        """An upload, download or event stream ended; a stream closed before the job ended
        means its client is gone (killed: that is how a front end cancels), unless it reconnects
        within ``disconnect_grace`` seconds."""
        with self._lock:
            job.attached -= 1
            job.last_seen = time.monotonic()
            if stream_closed and job.state not in FINISHED:
                job.stream_closed_at = job.last_seen

    def cancel(self, job: Job, reason: str) -> None:
        """Stop the job (queued: at once; running: the engine is asked to stop) and remove its
        files; a finished job is forgotten."""
        with self._lock:
            if job.state in FINISHED:
                self._forget(job)
            elif job.state == RUNNING:
                if job.cancel_at is None:
                    job.cancel_at = time.monotonic()
                    job.error = {"type": "Cancelled", "message": reason}
                    logger.info("job %s: cancelling (%s)", job.id, reason)
                    self.worker.cancel()
            else:
                self._set_cancelled(job, reason)

    def downloaded(self, job: Job, name: str) -> None:
        """``name`` was sent completely; once every file was, the results are deleted."""
        with self._lock:
            job.downloaded.add(name)
            if job.files and set(job.files) <= job.downloaded:
                self.workspace.remove_job(job.id)
                job.files = {}
                self._changed(job)
                logger.info("job %s: results downloaded and deleted", job.id)

    def file(self, job: Job, name: str) -> Optional[Path]:
        with self._lock:
            path = job.files.get(name)
        return job_file(job.folder, path.name) if path is not None else None

    def status(self, job: Job) -> dict[str, Any]:
        with self._lock:
            position = self.pending.index(job) + 1 if job in self.pending else (0 if job.state == RUNNING else None)
            return {
                "id": job.id, "state": job.state, "created": job.created, "position": position,
                "ticket": job.ticket, "turn": job.turn,
                "stage": job.stage, "fraction": job.fraction, "warnings": job.warnings, "error": job.error,
                "result": job.result,
                "files": [{"name": name, "field": field_of(job, name), "size": path.stat().st_size}
                          for name, path in job.files.items() if path.is_file()],
                "version": job.version,
            }

    def counts(self) -> dict[str, int]:
        with self._lock:
            return {"queued": len(self.pending), "running": int(self.current is not None), "completed": self.completed,
                    "cancelled": self.cancelled}

    # -- inside the lock -----------------------------------------------------------------------

    def _changed(self, job: Job) -> None:
        job.version += 1

    def _queue_moved(self) -> None:
        for waiting in self.pending:
            self._changed(waiting)

    def _set_cancelled(self, job: Job, reason: str) -> None:
        if job in self.pending:
            self.pending.remove(job)
            self._queue_moved()
        job.state = CANCELLED
        self.cancelled += 1
        job.error = {"type": "Cancelled", "message": reason}
        job.finished_at = time.monotonic()
        job.files = {}
        self.workspace.remove_job(job.id)
        self._changed(job)
        logger.info("job %s: cancelled (%s)", job.id, reason)

    def _forget(self, job: Job) -> None:
        if job in self.pending:
            self.pending.remove(job)
            self._queue_moved()
        self.jobs.pop(job.id, None)
        job.files = {}
        if job.state not in FINISHED:
            job.state = CANCELLED
        self._changed(job)
        self.workspace.remove_job(job.id)

    # -- the runner ------------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._lock:
                while not self.pending and not self._stopping:
                    self._wake.wait()
                if self._stopping:
                    return
                job = self.pending.pop(0)
                job.state, job.stage, job.fraction = RUNNING, "starting", 0.0
                self._turns += 1
                job.turn = self._turns
                self.current = job
                self._queue_moved()
                self._changed(job)
            logger.info("job %s: running", job.id)
            answer = self._run_one(job)
            self._finish(job, answer)

    def _run_one(self, job: Job) -> dict[str, Any]:
        try:
            if not self.worker.alive:
                self.worker.start()
                self._warm(strict=False)
            return self.worker.request(job.spec.request, lambda event: self._progress(job, event),
                                       lambda: self._cancel_again_if_asked(job))
        except WorkerDied as died:
            self.worker.stop(timeout=1)
            return {"event": "error", "type": "EngineCrashed", "message": str(died)}
        except Exception as error:  # noqa: BLE001 - one job's failure never stops the queue
            logger.exception("job %s: the engine could not be run", job.id)
            self.worker.kill()
            self.worker.stop(timeout=1)
            return {"event": "error", "type": "InternalError", "message": f"{type(error).__name__}: {error}"}

    def _cancel_again_if_asked(self, job: Job) -> None:
        """A cancel that came while the engine started or loaded its model reached it before the
        job's request, which it would then have run to its end: ask again, now that it has it."""
        with self._lock:
            asked = job.cancel_at is not None
        if asked:
            self.worker.cancel()

    def _progress(self, job: Job, event: dict[str, Any]) -> None:
        if event.get("event") != "progress":
            return
        with self._lock:
            job.stage = str(event.get("stage", ""))
            job.fraction = float(event.get("fraction", 0.0))
            self._changed(job)

    def _finish(self, job: Job, answer: dict[str, Any]) -> None:
        with self._lock:
            self.current = None
            self.completed += 1
            job.finished_at = time.monotonic()
            if job.cancel_at is not None or self._stopping:
                job.state = CANCELLED
                self.cancelled += 1
                self.workspace.remove_job(job.id)
            elif answer.get("event") == "done":
                job.result = self._public_result(job, answer)
                job.files = self._result_files(job, answer.get("written", []))
                job.state = DONE
                for upload in job.folder.glob("input*"):
                    upload.unlink(missing_ok=True)  # the CT is not kept longer than its job runs
            else:
                job.state = FAILED
                job.error = {"type": str(answer.get("type", "InternalError")),
                             "message": self._scrub(job, str(answer.get("message", "")))}
                self.workspace.remove_job(job.id)
            self._changed(job)
            logger.info("job %s: %s%s", job.id, job.state,
                        f" ({job.error['type']}: {job.error['message']})" if job.error else "")

    def _scrub(self, job: Job, text: str) -> str:
        """The engine's words without the server's folders (a client needs only the file names)."""
        for prefix in (str(job.folder) + os.sep, str(job.folder) + "/", f"{job.id}{os.sep}", f"{job.id}/"):
            text = text.replace(prefix, "")
        return text

    def _public_result(self, job: Job, answer: dict[str, Any]) -> dict[str, Any]:
        """The engine's ``done`` fields for the client, its paths as the job's file names."""

        def public(value: Any) -> Any:
            if isinstance(value, str):
                return self._scrub(job, value)
            if isinstance(value, dict):
                return {key: public(item) for key, item in value.items()}
            if isinstance(value, list):
                return [public(item) for item in value]
            return value

        return {key: public(value) for key, value in answer.items() if key not in ("event", "labelmap", "written")}

    def _result_files(self, job: Job, written: list[str]) -> dict[str, Path]:
        files = {}
        for name in written:
            path = self.workspace.jobs / name
            if path.parent == job.folder and path.is_file():
                files[path.name] = path
        return files

    # -- the watchdog ----------------------------------------------------------------------------

    def _watch(self) -> None:
        while True:
            with self._lock:
                if self._stopping:
                    return
                self._check(time.monotonic())
                self._wake.wait(timeout=0.25)

    def _check(self, now: float) -> None:
        for job in list(self.jobs.values()):
            gone = job.attached <= 0 and now - job.last_seen > self.client_timeout
            hung_up = (job.attached <= 0 and job.stream_closed_at is not None
                       and now - job.stream_closed_at > self.disconnect_grace)
            if job.state not in FINISHED:
                if hung_up and job.cancel_at is None:
                    self.cancel(job, "the client closed its connection before the job ended")
                elif gone and job.cancel_at is None:
                    self.cancel(job, f"the client went away (no word from it for {self.client_timeout:g} s)")
            elif gone or (job.finished_at is not None and now - job.finished_at > self.keep_results):
                logger.info("job %s: forgotten (%s)", job.id, "client gone" if gone else "results not fetched in time")
                self._forget(job)
        current = self.current
        if current is not None and current.cancel_at is not None and now - current.cancel_at > self.cancel_grace:
            logger.warning("job %s: the engine did not stop within %g s; ending it", current.id, self.cancel_grace)
            current.cancel_at = now  # once per grace period
            threading.Thread(target=self.worker.kill, daemon=True).start()


def field_of(job: Job, name: str) -> str:
    """Which job field wrote ``name`` (``output``, ``statistics``…), or ``output`` for the files
    written beside the output (its label table, node masks)."""
    for field_name, file_name in job.spec.files.items():
        if file_name == name:
            return field_name
    return "output"
