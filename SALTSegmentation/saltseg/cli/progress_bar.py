"""A tqdm progress bar on stderr fed by the engine's ``progress(stage, fraction)`` callback."""
from __future__ import annotations

import sys
from typing import Optional

from tqdm import tqdm


class StageProgressBar:
    """One bar per stage, 0–100 %, replaced when the stage changes."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self._bar: Optional[tqdm] = None
        self._stage = ""

    def __call__(self, stage: str, fraction: float) -> None:
        if not self.enabled:
            return
        if stage != self._stage:
            self.close()
            self._stage = stage
            self._bar = tqdm(total=100, desc=f"{stage:>14}", unit="%", file=sys.stderr,
                             bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed}<{remaining}")
        assert self._bar is not None
        self._bar.n = round(fraction * 100, 1)
        self._bar.refresh()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self) -> "StageProgressBar":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
