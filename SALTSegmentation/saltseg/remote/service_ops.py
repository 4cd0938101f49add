"""The engine service's ``segment`` request with a ``server`` field: the job runs on that SALT
server, and the front end sees what a local run shows it (``progress`` events, then ``done`` with
the same keys, its files where the job names them).

Cancelling works as for a local run: a ``cancel`` request stops the job on the server; a killed
engine process closes its connection, and the server cancels a job whose client went away.
"""
from __future__ import annotations

from typing import Any, Callable, Optional

from ..progress import CancelToken
from ..service.errors import ThrottledProgress
from ..service.protocol import DONE
from .address import ServerAddress
from .remote_job import done_fields, run_remote_job


def remote_segment_request(job: Any, server: ServerAddress, emit: Callable[..., None],
                           cancel: Optional[CancelToken] = None) -> None:
    progress = ThrottledProgress(emit)
    progress("connecting", 0.0)
    outcome = run_remote_job(job, server, progress, cancel)
    result = outcome.result
    plan = job.plan()
    labelmap = job.labelmap or (job.output if plan is not None and plan.format is not None
                                and plan.format.name == "labelmap" else None)
    described = done_fields(outcome, job)
    emit(DONE, **{**described, "labelmap": str(labelmap) if labelmap else None,
                  "written": [str(path) for path in outcome.written], "tree": result.tree.to_json_dict(),
                  "model_id": result.model_id, "warnings": list(result.warnings), "timings": result.timings,
                  "device": outcome.device, "window_placement": result.stats.get("window_placement"),
                  "server": server.url, **outcome.local_fields})
