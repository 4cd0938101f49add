"""The module's log, shown in its collapsible "Log" panel (copyable): the engine's stderr, the
output of helper processes (downloads, pip) and the module's own messages, in the order they
arrived, newest last. Error dialogs show its last lines under "Details". Qt-free."""
from __future__ import annotations

import time
from collections import deque
from typing import Callable, Optional

#: Lines kept (older ones are dropped); the panel shows all of them.
MAX_LINES = 2000
#: Lines an error dialog's "Details" shows.
DETAIL_LINES = 40


class ActivityLog:
    def __init__(self, on_line: Optional[Callable[[str], None]] = None, max_lines: int = MAX_LINES,
                 clock: Callable[[], str] = lambda: time.strftime("%H:%M:%S")) -> None:
        self._lines: deque[str] = deque(maxlen=max_lines)
        self.on_line = on_line
        self._clock = clock

    def add(self, source: str, text: str) -> None:
        """Log ``text`` (one or more lines) as coming from ``source`` (``engine``, ``pip``, ``module``…)."""
        for line in str(text).splitlines():
            if not line.strip():
                continue
            entry = f"{self._clock()} [{source}] {line.rstrip()}"
            self._lines.append(entry)
            if self.on_line is not None:
                self.on_line(entry)

    def tail(self, count: int = DETAIL_LINES) -> str:
        return "\n".join(list(self._lines)[-count:])

    def text(self) -> str:
        return "\n".join(self._lines)

    def clear(self) -> None:
        self._lines.clear()

    def __len__(self) -> int:
        return len(self._lines)
