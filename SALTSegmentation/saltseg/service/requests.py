"""Requests to ``python -m saltseg.service serve``, parsed and checked before any work.

A request is one JSON object per line, a serialised :class:`~saltseg.job.description.SegmentJob`::

    {"op": "segment", "input": "ct.nrrd", "labelmap": "labels.nrrd", "model": null,
     "device": "auto", "options": {"overlap": 0.5}, "statistics": "ct.csv"}

:mod:`.request_schema` publishes it as a JSON Schema. :func:`parse_request` turns a line into the
job or raises :class:`RequestError` naming the mistake, so a front end's error is never answered
with a traceback.
"""
from __future__ import annotations

import json

from ..errors import RequestError
from ..job.description import SegmentJob, job_from_request, type_name

OPERATIONS = ("segment",)


def parse_request(line: str) -> SegmentJob:
    """The job in one line of the front end's input; :class:`RequestError` for any mistake."""
    try:
        message = json.loads(line)  # takes NaN/Infinity too: the option rules refuse them by name
    except ValueError as error:
        raise RequestError(f"the request is not valid JSON ({error}): {line.strip()[:80]!r}") from None
    if not isinstance(message, dict):
        raise RequestError(f"a request must be a JSON object like {{\"op\": \"segment\", ...}}, got "
                           f"{type_name(message)}")
    if "op" in message and message["op"] not in OPERATIONS:
        raise RequestError(f"unknown request {message['op']!r}; the engine answers {', '.join(OPERATIONS)}")
    missing = [name for name in ("op", "input") if message.get(name) in (None, "")]
    if message.get("output") in (None, "") and message.get("labelmap") in (None, ""):
        missing.append("output")
    if missing:
        raise RequestError(f"the request has no {', '.join(map(repr, missing))}")
    return job_from_request(message)
