"""Running the engine off the main thread.

The worker thread only computes (``segment_image`` on a SimpleITK image); it never touches MRML.
Progress and the outcome wait in a queue until the main thread calls :meth:`SegmentationJob.poll`
(from a Qt timer inside Slicer, or a loop in a blocking call / test), which runs the callbacks
there, so MRML is only ever modified on the main thread.
"""
from __future__ import annotations

import queue
import threading
import time
from typing import Any, Callable, Optional

from saltseg.progress import CancelToken

ProgressCallback = Callable[[str, float], None]


class SegmentationJob:
    PENDING, RUNNING, SUCCEEDED, FAILED, CANCELLED = "pending", "running", "succeeded", "failed", "cancelled"

    def __init__(self, compute: Callable[[ProgressCallback, CancelToken], Any],
                 on_progress: Optional[ProgressCallback] = None,
                 on_success: Optional[Callable[[Any], None]] = None,
                 on_failure: Optional[Callable[[BaseException], None]] = None) -> None:
        self._compute = compute
        self._on_progress = on_progress
        self._on_success = on_success
        self._on_failure = on_failure
        self._events: "queue.Queue[tuple[str, Any]]" = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="SALTSegmentation", daemon=True)
        self.cancel_token = CancelToken()
        self.state = self.PENDING
        self.error: Optional[BaseException] = None
        self.result: Any = None

    # ------------------------------------------------------------------ worker thread
    def _run(self) -> None:
        try:
            outcome = self._compute(lambda stage, fraction: self._events.put(("progress", (stage, fraction))),
                                    self.cancel_token)
        except BaseException as error:  # noqa: BLE001 - handed to the main thread, never lost
            self._events.put(("failed", error))
        else:
            self._events.put(("done", outcome))

    # ------------------------------------------------------------------ main thread
    def start(self) -> "SegmentationJob":
        self.state = self.RUNNING
        self._thread.start()
        return self

    def cancel(self) -> None:
        self.cancel_token.cancel()

    @property
    def finished(self) -> bool:
        return self.state in (self.SUCCEEDED, self.FAILED, self.CANCELLED)

    def poll(self) -> bool:
        """Deliver queued progress and, once, the outcome. Returns True when finished."""
        from saltseg.errors import Cancelled

        while not self.finished:
            try:
                kind, payload = self._events.get_nowait()
            except queue.Empty:
                break
            if kind == "progress":
                if self._on_progress is not None and not self.cancel_token.cancelled:
                    self._on_progress(*payload)
                continue
            if kind == "done" and self.cancel_token.cancelled:
                # Cancelled after the last check inside the engine: still discard the result.
                kind, payload = "failed", Cancelled("Segmentation cancelled by the user.")
            try:
                if kind == "done":
                    self.result = payload
                    if self._on_success is not None:
                        self._on_success(payload)
                    self.state = self.SUCCEEDED
                else:
                    raise payload
            except BaseException as error:  # noqa: BLE001 - includes failures while importing
                self.error = error
                self.state = self.CANCELLED if isinstance(error, Cancelled) else self.FAILED
                if self._on_failure is not None:
                    self._on_failure(error)
        return self.finished

    def wait(self, timeout: Optional[float] = None, process_events: Optional[Callable[[], None]] = None,
             interval: float = 0.05) -> bool:
        """Poll until finished (or ``timeout`` seconds); ``process_events`` keeps a GUI alive."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.poll():
            if deadline is not None and time.monotonic() > deadline:
                return False
            if process_events is not None:
                process_events()
            self._thread.join(interval)
        return True
