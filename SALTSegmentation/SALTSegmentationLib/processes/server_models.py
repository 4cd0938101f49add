"""The model list of a SALT server, asked through an engine process (``{"op": "models",
"server": {...}}`` on its stdin): Slicer's main thread never waits on the network, and the token
travels only inside that request. The answer arrives as the engine's events, on the thread that
delivers them (Slicer's main thread; a caller of :meth:`ModelsQuery.wait` otherwise)."""
from __future__ import annotations

import logging
import time
from typing import Callable, Optional

from saltseg.service.protocol import ERROR, MODELS

from .engine_job import EngineCrashed, engine_error
from .engine_session import EngineSession

logger = logging.getLogger(__name__)

def models_request(server: dict) -> dict:
    return {"op": "models", "server": dict(server)}


class ModelsQuery:
    """One ``models`` request; ``on_done(query)`` once, with ``models`` (the server's rows, each
    with ``id`` and ``title``) and ``default``, or ``error`` set."""

    def __init__(self, session: EngineSession, server: dict,
                 on_done: Optional[Callable[["ModelsQuery"], None]] = None) -> None:
        self.session = session
        self.url = server["url"]
        self._request = models_request(server)
        self.on_done = on_done
        self.models: list[dict] = []
        #: The id of the model the server uses when the job names none.
        self.default: Optional[str] = None
        self.error: Optional[BaseException] = None
        self.finished = False

    def start(self) -> "ModelsQuery":
        try:
            self.session.submit(self._request, self)
        except BaseException as error:  # noqa: BLE001 - e.g. Slicer's Python cannot be started
            self._finish(EngineCrashed(f"The SALT engine process could not be started: {error}"))
        return self

    # ------------------------------------------------------------------ engine events
    def on_event(self, event: dict) -> None:
        if self.finished:
            return
        kind = event.get("event")
        if kind == MODELS:
            self.models = [row for row in event.get("models", []) if isinstance(row, dict) and row.get("id")]
            self.default = event.get("default") if isinstance(event.get("default"), str) else None
            self._finish(None)
        elif kind == ERROR:
            self._finish(engine_error(event.get("type", ""), event.get("message", "")))

    def on_crash(self, message: str) -> None:
        if not self.finished:
            self._finish(EngineCrashed(message))

    # ------------------------------------------------------------------ control
    def forget(self) -> None:
        """The answer is no longer wanted (the settings changed, the module closes): no callback."""
        self.on_done = None
        if not self.finished:
            # The engine may still be waiting for the server: end it, so that its late answer
            # cannot reach the next request.
            self.finished = True
            self.session.stop()

    def wait(self, timeout: Optional[float] = None, interval: float = 0.05) -> bool:
        """Deliver the engine's events until the answer came (True) or ``timeout`` passed (for
        scripts and tests; Slicer gets them as Qt signals)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.finished:
            if deadline is not None and time.monotonic() >= deadline:
                return False
            self.session.wait_for_activity(interval)
        return True

    def _finish(self, error: Optional[BaseException]) -> None:
        self.error, self.finished = error, True
        self.session.release(self)
        if error is not None:
            logger.info("model list of %s: %s", self.url, error)
        callback, self.on_done = self.on_done, None
        if callback is not None:
            callback(self)

