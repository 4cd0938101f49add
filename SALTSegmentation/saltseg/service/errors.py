"""How an exception inside the engine process becomes an ``error`` event."""
from __future__ import annotations

import logging
import traceback
from typing import Callable

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
