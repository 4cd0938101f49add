"""``python -m saltseg.service serve``: segment requests from stdin with a model kept loaded.

The front end writes the CT to a file, sends a segmentation job (one JSON line, see
:mod:`.requests`) and gets ``progress`` events, then ``done`` (``labelmap``: the labels for the
front end to import; ``written``: every file the job wrote; ``probability_maps``: node tree path →
map file; ``confidence_map``: its file or null) or ``error``. The last model stays
loaded, so the next request with the same model and device starts at once. After
``idle_timeout`` seconds without a request the process exits; when stdin closes (the front end
went away) it exits at once, even during a run. Cancelling is a ``{"op": "cancel"}`` request (the
model stays loaded) or killing the process (group). With a ``server`` field the job runs on that
SALT server and its files are written here (:mod:`saltseg.remote.service_ops`); a ``models``
request lists the models to choose from (:mod:`.requests`).
However it ends, the processes it or its libraries started end with it (:mod:`.process_tree`).
"""
from __future__ import annotations

import json
import logging
import os
import queue
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Optional

from ..progress import CancelToken
from .errors import ThrottledProgress, report_error
from .process_tree import contain_children, end_children, end_children_on_termination, exit_now, own_process_group
from .protocol import BYE, CANCEL_REQUEST, DONE, READY, EventWriter, identity

if TYPE_CHECKING:
    from ..job.description import SegmentJob

logger = logging.getLogger(__name__)


class LoadedModel:
    """The one model kept in memory, reloaded when the folder, device or model file changes."""

    def __init__(self) -> None:
        self._key: Optional[tuple] = None
        self._model: Any = None
        self.loads = 0

    def get(self, folder: Path, device: str) -> tuple[Any, bool]:
        from ..model.model_io import MODEL_FILE, load_model

        model_file = Path(folder) / MODEL_FILE
        stamp = model_file.stat().st_mtime_ns if model_file.is_file() else None
        key = (str(Path(folder).resolve()), device, stamp)
        if key == self._key:
            return self._model, True
        self._key, self._model = None, None  # free the old model before loading the new one
        self._model = load_model(folder, device=device)
        self._key = key
        self.loads += 1
        return self._model, False


def segment_request(job: SegmentJob, cache: LoadedModel, emit: Callable[..., None],
                    cancel: Optional[CancelToken] = None) -> None:
    """Run ``job`` (:func:`saltseg.job.run.run_job`: the same checks and writers as the command
    line) with the model kept loaded, and report the front end's labelmap and every file written."""
    from ..job.run import run_job

    progress = ThrottledProgress(emit)
    progress("loading model", 0.0)
    outcome = run_job(job, lambda folder, device: cache.get(folder, device), progress, cancel)
    result = outcome.result
    plan = job.plan()
    labelmap = job.labelmap or (job.output if plan is not None and plan.format is not None
                                and plan.format.name == "labelmap" else None)
    emit(DONE, labelmap=str(labelmap) if labelmap else None, written=[str(path) for path in outcome.written],
         tree=result.tree.to_json_dict(), model_id=result.model_id, warnings=list(result.warnings),
         timings=result.timings, device=str(outcome.model.device), model_reused=outcome.model_reused,
         model_loads=cache.loads, window_placement=result.stats.get("window_placement"),
         probability_maps={node: str(path) for node, path in outcome.probability_maps.items()},
         confidence_map=str(outcome.confidence_map) if outcome.confidence_map is not None else None)


OPERATIONS = {"segment": segment_request}


def load_request(fields: dict[str, Any], cache: LoadedModel, emit: Callable[..., None]) -> None:
    """Load the model now (a server warms its engine up before its first job)."""
    from .. import models as registry

    spec, device = fields.get("model"), fields.get("device") or "auto"
    if spec and Path(spec).is_dir():
        folder, model_id = Path(spec), Path(spec).name
    else:
        folder = registry.resolve_model_dir(spec or None, catalog_file=fields.get("catalog"), home=fields.get("home"))
        model_id = spec or registry.DEFAULT_MODEL_ID
    model, reused = cache.get(folder, device)
    emit(DONE, model_id=model_id, device=str(model.device), model_reused=reused, model_loads=cache.loads)


class RunningRequest:
    """The cancel tokens of the requests: the stdin thread numbers each request line as it arrives
    and, when a ``cancel`` request arrives, cancels the request being handled and every one already
    received (a cancel sent right after its request may overtake it: the main thread takes the
    request from the queue later)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._token: Optional[CancelToken] = None
        self._received = 0
        self._cancelled_up_to = 0

    def received(self) -> int:
        """A request line arrived (stdin thread): its number."""
        with self._lock:
            self._received += 1
            return self._received

    def begin(self, number: int) -> CancelToken:
        with self._lock:
            self._token = CancelToken()
            if number <= self._cancelled_up_to:
                self._token.cancel()
            return self._token

    def end(self) -> None:
        with self._lock:
            self._token = None

    def cancel(self) -> None:
        with self._lock:
            self._cancelled_up_to = self._received
            if self._token is not None:
                self._token.cancel()


def _is_cancel(line: str) -> bool:
    try:
        message = json.loads(line)
    except ValueError:
        return False
    return message == CANCEL_REQUEST


def _read_requests(lines: "queue.Queue[tuple[int, str]]", running: RunningRequest) -> None:
    for line in sys.stdin:
        if _is_cancel(line):
            running.cancel()
        elif line.strip():
            lines.put((running.received(), line))
    # stdin closed: the front end is gone (Slicer quit or crashed). Leave now, even in the middle
    # of a run, rather than compute for nobody (an output being written stays a hidden .part file).
    exit_now(0)


def serve(idle_timeout: float) -> int:
    own_process_group()
    contain_children()
    end_children_on_termination()
    try:
        return _serve(idle_timeout)
    finally:
        end_children()


def _serve(idle_timeout: float) -> int:
    emit = EventWriter()
    lines: "queue.Queue[tuple[int, str]]" = queue.Queue()
    running = RunningRequest()
    threading.Thread(target=_read_requests, args=(lines, running), daemon=True, name="stdin").start()
    cache = LoadedModel()
    emit(READY, pid=os.getpid(), **identity())
    while True:
        try:
            number, line = lines.get(timeout=idle_timeout if idle_timeout > 0 else None)
        except queue.Empty:
            emit(BYE, reason="idle")
            return 0
        started = time.perf_counter()
        try:
            _handle(line, number, cache, emit, running)
        except BaseException as error:  # noqa: BLE001 - every failure becomes an error event
            report_error(emit, error)
            if isinstance(error, (KeyboardInterrupt, SystemExit)):
                return 1
        logger.info("request handled in %.1f s", time.perf_counter() - started)


def _handle(line: str, number: int, cache: LoadedModel, emit: Callable[..., None], running: RunningRequest) -> None:
    from .requests import parse_service_request  # imports the pipeline (torch): after READY

    request = parse_service_request(line)
    if request.op == "models":
        from .models_ops import models_event

        models_event(request.server, request.fields.get("home"), emit)
    elif request.op == "load":
        load_request(request.fields, cache, emit)
    elif request.op == "segment":
        assert request.job is not None  # a segment request always holds its job
        cancel = running.begin(number)
        try:
            cancel.raise_if_cancelled()  # overtaken by its cancel: no model loaded, no CT read
            if request.server is not None:
                from ..remote.service_ops import remote_segment_request

                remote_segment_request(request.job, request.server, emit, cancel)
            else:
                segment_request(request.job, cache, emit, cancel)
        finally:
            running.end()
