"""What the module tells the user, without Qt: the status line, error dialogs (with the activity
log's last lines as details) and the activity log — and nothing once the module has closed.

Dialogs never open inside a process callback: those run in a ``QProcess`` slot, where a modal
dialog's nested event loop would let later output overtake earlier output and start a retry
inside the slot. They go through ``defer`` (the widget: ``qt.QTimer.singleShot(0, …)``), which
runs them once the slot has returned. The module controller and its helpers share one.
"""
from __future__ import annotations

from typing import Any, Callable, Optional

from .activity_log import DETAIL_LINES, ActivityLog

#: Runs an action once the current Qt slot has returned.
Defer = Callable[[Callable[[], None]], None]


class Feedback:
    def __init__(self, view: Any, defer: Optional[Defer] = None) -> None:
        self.view = view
        #: Runs an action once the current Qt slot has returned (default: at once, for scripts).
        self.defer: Defer = defer or (lambda action: action())
        #: The module has closed (Reload, exit): nothing more reaches the view.
        self.closed = False
        self.log = ActivityLog(on_line=self._show_log_line)

    def _show_log_line(self, line: str) -> None:
        if not self.closed:
            self.view.append_log(line)

    def status(self, text: str) -> None:
        """The status line, kept in the log too."""
        if self.closed:
            return
        self.view.set_status(text)
        self.log.add("module", text)

    def error(self, message: str, then: Optional[Callable[[], None]] = None) -> None:
        """Show ``message`` in an error dialog with the log's last lines as details, after the
        current slot (then run ``then``, e.g. a question that follows the error)."""
        if self.closed:
            return
        self.log.add("error", message)

        def show() -> None:
            if self.closed:
                return
            self.view.show_error(message, self.log.tail(DETAIL_LINES))
            if then is not None:
                then()

        self.defer(show)

    def later(self, action: Callable[[], None]) -> None:
        """Run ``action`` after the current slot, unless the module has closed by then."""
        self.defer(lambda: None if self.closed else action())
