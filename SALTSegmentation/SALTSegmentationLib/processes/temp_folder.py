"""Removing a run's temporary folder (the CT written for the engine, its labelmap: hundreds of MB).

On Windows a killed process's files stay open for a moment after ``TerminateProcess`` returned,
so removal is retried briefly; a folder that still cannot be removed is reported, never ignored.
"""
from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path
from typing import Callable

logger = logging.getLogger(__name__)

#: About 2 s in all: long enough for Windows to close a killed process's handles.
ATTEMPTS = 20
DELAY = 0.1


def remove_folder(path: Path, attempts: int = ATTEMPTS, delay: float = DELAY,
                  remove: Callable[[Path], None] = shutil.rmtree, sleep: Callable[[float], None] = time.sleep) -> bool:
    """Remove ``path`` and everything in it; True when it is gone (or was never there)."""
    path = Path(path)
    for attempt in range(max(attempts, 1)):
        if not path.exists():
            return True
        try:
            remove(path)
        except FileNotFoundError:
            return True
        except OSError as error:  # e.g. Windows: "being used by another process"
            if attempt == attempts - 1:
                logger.warning("could not remove the temporary folder %s: %s", path, error)
                return False
            sleep(delay)
    return not path.exists()


def leftover_message(path: Path) -> str:
    return f"The temporary folder {path} could not be removed; delete it yourself to free the disk space."
