"""Requests to ``python -m saltseg.service serve``, parsed and checked before any work.

A request is one JSON object per line. ``segment`` is a serialised
:class:`~saltseg.job.description.SegmentJob`::

    {"op": "segment", "input": "ct.nrrd", "labelmap": "labels.nrrd", "model": null,
     "device": "auto", "options": {"overlap": 0.5}, "statistics": "ct.csv"}

with, optionally, ``"server": {"url": "https://…", "token": "…"[, "ca_file": "ca.pem"]}``: run
the job on that SALT server (``saltseg serve``) instead of here; the files are still written where
the job says. ``server`` is where the job runs, not what it is: no part of the job, never written
to any file or log. The other operations:

- ``{"op": "models"[, "server": {...}][, "home": DIR]}``: the models to choose from, answered by a
  ``models`` event (the server's, or those installed here);
- ``{"op": "load", "model": ID|DIR, "device": ...[, "home", "catalog"]}``: load the model now, so
  that the next job starts at once;
- ``{"op": "cancel"}``: stop the running job (it ends with a ``Cancelled`` error event); the
  model stays loaded.

:mod:`.request_schema` publishes them as a JSON Schema. :func:`parse_service_request` turns a line
into a :class:`ServiceRequest` or raises :class:`RequestError` naming the mistake, so a front end's
error is never answered with a traceback.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Optional

from ..errors import RequestError
from ..job.description import SegmentJob, job_from_request, type_name

OPERATIONS = ("segment", "models", "load", "cancel")
#: The fields each operation other than ``segment`` takes (``segment``: the job's fields).
OPERATION_FIELDS = {"models": ("server", "home"), "load": ("model", "device", "home", "catalog"), "cancel": ()}


@dataclass
class ServiceRequest:
    op: str
    job: Optional[SegmentJob] = None
    #: The SALT server to run on (:class:`saltseg.remote.address.ServerAddress`), or None: here.
    server: Any = field(default=None, repr=False)
    #: The other operations' fields (``load``'s model and device, ``models``' home).
    fields: dict[str, Any] = field(default_factory=dict)


def _decode(line: str) -> dict[str, Any]:
    try:
        message = json.loads(line)  # takes NaN/Infinity too: the option rules refuse them by name
    except ValueError as error:
        raise RequestError(f"the request is not valid JSON ({error}): {line.strip()[:80]!r}") from None
    if not isinstance(message, dict):
        raise RequestError(f"a request must be a JSON object like {{\"op\": \"segment\", ...}}, got "
                           f"{type_name(message)}")
    if "op" in message and message["op"] not in OPERATIONS:
        raise RequestError(f"unknown request {message['op']!r}; the engine answers {', '.join(OPERATIONS)}")
    return message


def parse_service_request(line: str) -> ServiceRequest:
    """The request in one line of the front end's input; :class:`RequestError` for any mistake."""
    from ..remote.address import address_from_request

    message = _decode(line)
    server = address_from_request(message.pop("server", None))
    op = message.get("op")
    if op in OPERATION_FIELDS:
        allowed = OPERATION_FIELDS[op]
        unknown = sorted(set(message) - set(allowed) - {"op"})
        if unknown:
            raise RequestError(f"unknown field{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))} of "
                               f"a {op!r} request; it takes {', '.join(('op',) + allowed)}")
        for name, value in message.items():
            if name != "op" and value is not None and not isinstance(value, str):
                raise RequestError(f"{name!r} must be a string or null, got {type_name(value)}")
        if server is not None and op != "models":
            raise RequestError(f"a {op!r} request takes no 'server'")
        return ServiceRequest(op, server=server, fields={k: v for k, v in message.items() if k != "op"})
    return ServiceRequest("segment", _segment_job(message), server)


def _segment_job(message: dict[str, Any]) -> SegmentJob:
    missing = [name for name in ("op", "input") if message.get(name) in (None, "")]
    if message.get("output") in (None, "") and message.get("labelmap") in (None, ""):
        missing.append("output")
    if missing:
        raise RequestError(f"the request has no {', '.join(map(repr, missing))}")
    return job_from_request(message)


def parse_request(line: str) -> SegmentJob:
    """The job of a ``segment`` request line (its ``server``, if any, checked and left aside)."""
    request = parse_service_request(line)
    if request.job is None:
        raise RequestError(f"a {request.op!r} request holds no segmentation job")
    return request.job
