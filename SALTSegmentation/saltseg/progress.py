"""Progress reporting and cooperative cancellation shared by all long-running steps."""
from __future__ import annotations

import threading
from typing import Callable, Optional

from .errors import Cancelled

#: ``progress(stage, fraction)`` with ``fraction`` in [0, 1] for the named stage.
ProgressCallback = Callable[[str, float], None]


class CancelToken:
    """Thread-safe flag a UI sets and the engine polls between units of work (one window)."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            raise Cancelled("Segmentation cancelled by the user.")


class ProgressReporter:
    """Calls an optional callback and checks an optional cancel token at every report."""

    def __init__(
        self, callback: Optional[ProgressCallback] = None, cancel: Optional[CancelToken] = None
    ) -> None:
        self._callback = callback
        self._cancel = cancel

    def __call__(self, stage: str, fraction: float) -> None:
        self.check_cancelled()
        if self._callback is not None:
            self._callback(stage, min(max(float(fraction), 0.0), 1.0))

    def check_cancelled(self) -> None:
        if self._cancel is not None:
            self._cancel.raise_if_cancelled()
