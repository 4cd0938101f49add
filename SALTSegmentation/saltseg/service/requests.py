"""Requests to ``python -m saltseg.service serve``, parsed and checked before any work.

A request is one JSON object per line::

    {"op": "segment", "input": "ct.nrrd", "output": "labels.nrrd",
     "model": null, "home": null, "device": "auto", "options": {"overlap": 0.5}}

Its fields are declared once in :data:`REQUEST_FIELDS`, its ``options`` are the engine's run
options (:class:`~saltseg.inference.options.SegmentOptions`, checked by their own rules), and
:mod:`.request_schema` publishes both as a JSON Schema. :func:`parse_request` turns a line into a
:class:`SegmentRequest` or raises :class:`RequestError` naming the mistake, so a front end's error
is never answered with a traceback.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Optional

from ..devices import DEVICE_CHOICES
from ..errors import OptionError, RequestError
from ..inference.options import SegmentOptions

OPERATIONS = ("segment",)
#: ``cuda:N`` picks one GPU; the other devices are named by :data:`DEVICE_CHOICES`.
DEVICE_PATTERN = r"cuda:\d+"


@dataclass(frozen=True)
class RequestField:
    name: str
    kind: type  # str or dict
    required: bool
    help: str


REQUEST_FIELDS = (
    RequestField("op", str, True, f"what to do: {', '.join(OPERATIONS)}"),
    RequestField("input", str, True, "the CT to segment: an image file or a DICOM folder"),
    RequestField("output", str, True, "the labelmap to write (.nrrd, .nii.gz, .mha, ...)"),
    RequestField("model", str, False, "model id or model folder (null: the default model)"),
    RequestField("home", str, False, "models folder (null: SALTSEG_HOME or the platform's default)"),
    RequestField("device", str, False, f"compute device: {', '.join(DEVICE_CHOICES)} or cuda:N (null: auto)"),
    RequestField("options", dict, False, "the engine's run options by name (null or missing: the defaults)"),
)


@dataclass(frozen=True)
class SegmentRequest:
    input: str
    output: str
    model: Optional[str] = None
    home: Optional[str] = None
    device: str = "auto"
    options: SegmentOptions = field(default_factory=SegmentOptions)


def _type_name(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "true/false", int: "a number",
            float: "a number", type(None): "null"}.get(type(value), type(value).__name__)


def parse_options(options: dict) -> SegmentOptions:
    """:class:`SegmentOptions` from the request's ``options`` object, every value checked."""
    try:
        return SegmentOptions.from_mapping(options)
    except OptionError as error:
        raise RequestError(str(error)) from None


def _decode(line: str) -> dict:
    try:
        message = json.loads(line)  # takes NaN/Infinity too: the option rules refuse them by name
    except ValueError as error:
        raise RequestError(f"the request is not valid JSON ({error}): {line.strip()[:80]!r}") from None
    if not isinstance(message, dict):
        raise RequestError(f"a request must be a JSON object like {{\"op\": \"segment\", ...}}, got "
                           f"{_type_name(message)}")
    return message


def parse_request(line: str) -> SegmentRequest:
    """The request in one line of the front end's input; :class:`RequestError` for any mistake."""
    message = _decode(line)
    if "op" in message and message["op"] not in OPERATIONS:
        raise RequestError(f"unknown request {message['op']!r}; the engine answers {', '.join(OPERATIONS)}")
    missing = [item.name for item in REQUEST_FIELDS if item.required and message.get(item.name) in (None, "")]
    if missing:
        raise RequestError(f"the request has no {', '.join(map(repr, missing))}")
    names = [item.name for item in REQUEST_FIELDS]
    unknown = sorted(set(message) - set(names))
    if unknown:
        raise RequestError(f"unknown request field{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}; "
                           f"a request has {', '.join(names)}")
    for item in REQUEST_FIELDS:
        value = message.get(item.name)
        if value is not None and not isinstance(value, item.kind):
            expected = "a string" if item.kind is str else "an object"
            raise RequestError(f"{item.name!r} must be {expected}{'' if item.required else ' or null'}, "
                               f"got {_type_name(value)}")
    device = message.get("device") or "auto"
    if device not in DEVICE_CHOICES and not re.fullmatch(DEVICE_PATTERN, device):
        raise RequestError(f"'device' must be one of {', '.join(DEVICE_CHOICES)} or cuda:N, got {device!r}")
    return SegmentRequest(input=message["input"], output=message["output"], model=message.get("model") or None,
                          home=message.get("home") or None, device=device,
                          options=parse_options(message.get("options") or {}))
