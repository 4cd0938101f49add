"""The JSON-lines protocol between the engine process and its front end. Torch-free: the Slicer
module imports it to read the engine's messages.

Front end → engine (stdin of ``serve``): one request per line, ``{"op": "segment", ...}`` (the
operations: :mod:`.requests`).
Engine → front end (stdout): one event per line with an ``event`` key:

- ``ready``     ``{"pid", "saltseg_version", "saltseg_path"}`` once, when the process accepts
  requests: its pid (behind Slicer's launcher) and which ``saltseg`` it runs (the front end refuses
  an engine that imported another copy than its own)
- ``progress``  ``{"stage", "fraction"}`` (downloads add ``"done"``/``"total"`` bytes)
- ``done``      ``{...result fields}`` the request succeeded
- ``models``    ``{"models": [{"id", "title", ...}], "server"?}`` the answer to a ``models`` request:
  the models to choose from, a SALT server's (``server``: its URL) or those installed here
- ``error``     ``{"type", "message"}`` the request failed; ``message`` is the engine's own text
- ``bye``       ``{"reason"}`` the process exits on its own (idle timeout)
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any, Optional, TextIO

READY, PROGRESS, DONE, ERROR, BYE, MODELS = "ready", "progress", "done", "error", "bye", "models"
EVENTS = (READY, PROGRESS, DONE, ERROR, BYE, MODELS)
#: The request that stops the running job after the window it computes (the model stays loaded).
CANCEL_REQUEST = {"op": "cancel"}


def identity() -> dict[str, str]:
    """The ``saltseg`` this process runs: version and package folder (fields of ``ready``)."""
    from saltseg import __version__

    return {"saltseg_version": __version__, "saltseg_path": str(Path(__file__).resolve().parents[1])}


def encode(event: str, **fields: Any) -> str:
    return json.dumps({"event": event, **fields}, separators=(",", ":")) + "\n"


def decode(line: str) -> Optional[dict]:
    """The event in ``line``, or None for anything else (a library printing to stdout)."""
    line = line.strip()
    if not line.startswith("{"):
        return None
    try:
        message = json.loads(line)
    except ValueError:
        return None
    return message if isinstance(message, dict) and message.get("event") in EVENTS else None


class EventWriter:
    """Writes events to the process's real stdout. Everything else printed later, by Python or by
    C libraries, goes to stderr instead, so stray output never breaks a protocol line."""

    def __init__(self, stream: Optional[TextIO] = None) -> None:
        if stream is None:
            sys.stdout.flush()
            protocol_fd = os.dup(1)
            os.dup2(2, 1)  # fd 1 now writes to stderr
            sys.stdout = sys.stderr
            stream = os.fdopen(protocol_fd, "w", encoding="utf-8", buffering=1)
        self._stream = stream

    def __call__(self, event: str, **fields: Any) -> None:
        self._stream.write(encode(event, **fields))
        self._stream.flush()
