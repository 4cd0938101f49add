"""``python -m saltseg.service serve``: segment requests from stdin with a model kept loaded.

The front end writes the CT to a file, sends a segmentation job (one JSON line, see
:mod:`.requests`) and gets ``progress`` events, then ``done`` (``labelmap``: the labels for the
front end to import; ``written``: every file the job wrote) or ``error``. The last model stays
loaded, so the next request with the same model and device starts at once. After
``idle_timeout`` seconds without a request the process exits; when stdin closes (the front end
went away) it exits at once, even during a run. Cancelling is killing the process (group).
However it ends, the processes it or its libraries started end with it (:mod:`.process_tree`).
"""
from __future__ import annotations

import logging
import os
import queue
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Optional

from .errors import ThrottledProgress, report_error
from .process_tree import contain_children, end_children, end_children_on_termination, exit_now, own_process_group
from .protocol import BYE, DONE, READY, EventWriter, identity

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


def segment_request(job: SegmentJob, cache: LoadedModel, emit: Callable[..., None]) -> None:
    """Run ``job`` (:func:`saltseg.job.run.run_job`: the same checks and writers as the command
    line) with the model kept loaded, and report the front end's labelmap and every file written."""
    from ..job.run import run_job

    progress = ThrottledProgress(emit)
    progress("loading model", 0.0)
    outcome = run_job(job, lambda folder, device: cache.get(folder, device), progress)
    result = outcome.result
    plan = job.plan()
    labelmap = job.labelmap or (job.output if plan is not None and plan.format is not None
                                and plan.format.name == "labelmap" else None)
    emit(DONE, labelmap=str(labelmap) if labelmap else None, written=[str(path) for path in outcome.written],
         tree=result.tree.to_json_dict(), model_id=result.model_id, warnings=list(result.warnings),
         timings=result.timings, device=str(outcome.model.device), model_reused=outcome.model_reused,
         model_loads=cache.loads, window_placement=result.stats.get("window_placement"))


OPERATIONS = {"segment": segment_request}


def _read_requests(lines: "queue.Queue[str]") -> None:
    for line in sys.stdin:
        lines.put(line)
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
    lines: "queue.Queue[str]" = queue.Queue()
    threading.Thread(target=_read_requests, args=(lines,), daemon=True, name="stdin").start()
    cache = LoadedModel()
    emit(READY, pid=os.getpid(), **identity())
    while True:
        try:
            line = lines.get(timeout=idle_timeout if idle_timeout > 0 else None)
        except queue.Empty:
            emit(BYE, reason="idle")
            return 0
        if not line.strip():
            continue
        started = time.perf_counter()
        try:
            from .requests import parse_request  # imports the pipeline (torch): after READY

            request = parse_request(line)
            OPERATIONS["segment"](request, cache, emit)
        except BaseException as error:  # noqa: BLE001 - every failure becomes an error event
            report_error(emit, error)
            if isinstance(error, (KeyboardInterrupt, SystemExit)):
                return 1
        logger.info("request handled in %.1f s", time.perf_counter() - started)
