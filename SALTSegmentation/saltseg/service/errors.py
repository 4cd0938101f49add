"""How an exception inside the engine process becomes an ``error`` event, and back again.

The event names the error's class; :func:`error_from_event` turns it into an exception of that
same class on the front end's side, so a front end tests ``isinstance(error,
ModelNotInstalledError)`` rather than class names or message text.
"""
from __future__ import annotations

import logging
import traceback
from typing import Callable, Optional

from ..errors import SaltSegError

logger = logging.getLogger(__name__)


def report_error(emit: Callable[..., None], error: BaseException) -> None:
    """Expected errors keep their class name and message verbatim; anything else is a bug, logged
    with its traceback on stderr and reported as ``InternalError``."""
    if isinstance(error, SaltSegError):
        emit("error", type=type(error).__name__, message=str(error))
    elif isinstance(error, MemoryError):
        emit("error", type="OutOfMemoryError",
             message="the engine ran out of memory; try a smaller window batch size or the CPU")
    else:
        traceback.print_exc()
        emit("error", type="InternalError", message=f"{type(error).__name__}: {error}")


def error_class(name: str) -> Optional[type[SaltSegError]]:
    """The engine's user-facing error class called ``name`` (what an ``error`` event's ``type``
    says), found among every :class:`SaltSegError` subclass; None for any other name."""
    pending: list[type[SaltSegError]] = [SaltSegError]
    while pending:
        cls = pending.pop()
        if cls.__name__ == name:
            return cls
        pending.extend(cls.__subclasses__())
    return None


def error_from_event(name: str, message: str) -> Optional[SaltSegError]:
    """The exception an ``error`` event reports, of the engine's own class, message verbatim; None
    when the name is no engine error class (``InternalError``: a bug in the engine)."""
    cls = error_class(name)
    return cls(message) if cls is not None else None


class ThrottledProgress:
    """Forwards ``progress(stage, fraction)`` as events, at most one per 0.5 % step of a stage."""

    def __init__(self, emit: Callable[..., None]) -> None:
        self._emit = emit
        self._last: tuple[str, float] = ("", -1.0)

    def __call__(self, stage: str, fraction: float, **extra) -> None:
        last_stage, last_fraction = self._last
        if stage == last_stage and fraction < 1.0 and fraction - last_fraction < 0.005:
            return
        self._last = (stage, fraction)
        self._emit("progress", stage=stage, fraction=round(float(fraction), 4), **extra)
