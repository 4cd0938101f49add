"""Requests to ``python -m saltseg.service serve``, parsed and checked before any work.

A request is one JSON object per line::

    {"op": "segment", "input": "ct.nrrd", "output": "labels.nrrd",
     "model": null, "home": null, "device": "auto", "options": {"overlap": 0.5}}

:func:`parse_request` turns it into a :class:`SegmentRequest` or raises :class:`RequestError`
naming the mistake (not JSON, not an object, a missing, unknown or mistyped field, an option the
engine does not have), so a front end's error is never answered with a traceback.
"""
from __future__ import annotations

import dataclasses
import json
import re
import typing
from dataclasses import dataclass, field
from typing import Any, Optional

from ..errors import RequestError
from ..inference.backends import BACKEND_CHOICES, PRECISION_CHOICES
from ..devices import DEVICE_CHOICES
from ..inference.pipeline import SegmentOptions
from ..inference.window_placement import WINDOW_PLACEMENTS

OPERATIONS = ("segment",)
_FIELDS = {"op": str, "input": str, "output": str, "model": Optional[str], "home": Optional[str],
           "device": Optional[str], "options": Optional[dict]}
_REQUIRED = ("op", "input", "output")
#: Options with a fixed set of values, and the checks of the numeric ones.
_CHOICES = {"window_placement": WINDOW_PLACEMENTS, "backend": BACKEND_CHOICES, "precision": PRECISION_CHOICES}
_RANGES = {"overlap": (0.0, 1.0, "in [0, 1)"), "batch_size": (1, None, "at least 1"),
           "host_memory_limit": (1, None, "at least 1"), "device_memory_limit": (1, None, "at least 1")}


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


def _matches(value: Any, expected: Any) -> bool:
    """``value`` (decoded JSON) fits the type hint ``expected`` (str, int, float, bool, Optional[...])."""
    if typing.get_origin(expected) is typing.Union:
        return any(_matches(value, option) for option in typing.get_args(expected))
    if typing.get_origin(expected) is tuple:  # tuple[X, ...]: a JSON list of X
        item = typing.get_args(expected)[0]
        return isinstance(value, list) and all(_matches(element, item) for element in value)
    if expected is type(None):
        return value is None
    if expected is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if expected is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, expected)


def _expected_text(expected: Any) -> str:
    if typing.get_origin(expected) is typing.Union:
        return " or ".join(_expected_text(option) for option in typing.get_args(expected))
    if typing.get_origin(expected) is tuple:
        return f"a list ({_expected_text(typing.get_args(expected)[0])} each)"
    return {str: "a string", int: "a whole number", float: "a number", bool: "true/false", dict: "an object",
            type(None): "null"}.get(expected, str(expected))


def parse_options(options: dict) -> SegmentOptions:
    """:class:`SegmentOptions` from the request's ``options`` object, every value checked."""
    hints = typing.get_type_hints(SegmentOptions)
    unknown = sorted(set(options) - set(hints))
    if unknown:
        raise RequestError(f"unknown option{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}; "
                           f"the engine takes {', '.join(sorted(hints))}")
    for name, value in options.items():
        if not _matches(value, hints[name]):
            raise RequestError(f"option {name!r} must be {_expected_text(hints[name])}, got {_type_name(value)} "
                               f"{json.dumps(value)}")
        if name in _CHOICES and value is not None and value not in _CHOICES[name]:
            raise RequestError(f"option {name!r} must be one of {', '.join(_CHOICES[name])}, got {value!r}")
        if name in _RANGES and value is not None:
            low, high, text = _RANGES[name]
            if value < low or (high is not None and value >= high):
                raise RequestError(f"option {name!r} must be {text}, got {value}")
    options = {name: tuple(value) if isinstance(value, list) else value for name, value in options.items()}
    return dataclasses.replace(SegmentOptions(), **options)


def parse_request(line: str) -> SegmentRequest:
    """The request in one line of the front end's input; :class:`RequestError` for any mistake."""
    try:
        message = json.loads(line)
    except ValueError as error:
        raise RequestError(f"the request is not valid JSON ({error}): {line.strip()[:80]!r}") from None
    if not isinstance(message, dict):
        raise RequestError(f"a request must be a JSON object like {{\"op\": \"segment\", ...}}, got "
                           f"{_type_name(message)}")
    if "op" in message and message["op"] not in OPERATIONS:
        raise RequestError(f"unknown request {message['op']!r}; the engine answers {', '.join(OPERATIONS)}")
    missing = [name for name in _REQUIRED if message.get(name) in (None, "")]
    if missing:
        raise RequestError(f"the request has no {', '.join(map(repr, missing))}")
    unknown = sorted(set(message) - set(_FIELDS))
    if unknown:
        raise RequestError(f"unknown request field{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}; "
                           f"a request has {', '.join(_FIELDS)}")
    for name, expected in _FIELDS.items():
        if name in message and not _matches(message[name], expected):
            raise RequestError(f"{name!r} must be {_expected_text(expected)}, got {_type_name(message[name])}")
    device = message.get("device") or "auto"
    if device not in DEVICE_CHOICES and not re.fullmatch(r"cuda:\d+", device):
        raise RequestError(f"'device' must be one of {', '.join(DEVICE_CHOICES)} or cuda:N, got {device!r}")
    return SegmentRequest(input=message["input"], output=message["output"], model=message.get("model") or None,
                          home=message.get("home") or None, device=device,
                          options=parse_options(message.get("options") or {}))
