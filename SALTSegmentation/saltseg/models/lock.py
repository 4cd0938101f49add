"""An exclusive lock shared by processes (two Slicer instances, a CLI run) and threads.

``fcntl.flock`` on POSIX and ``msvcrt.locking`` on Windows; both conflict between two open file
handles even inside one process, so threads are covered as well. The lock dies with the process,
so a crashed download never leaves a stale lock behind. Lock files are never deleted: removing a
lock file while another process waits on it would let a third process lock a different inode.
"""
from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import Optional

from ..progress import CancelToken
from .errors import LockTimeoutError

logger = logging.getLogger(__name__)

if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
    import msvcrt

    def _try_lock(fd: int) -> bool:
        os.lseek(fd, 0, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

    def _unlock(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)


class ProcessLock:
    """``with ProcessLock(path, timeout=..., cancel=...):`` — waits (polling, so a cancel token
    and a timeout are honoured) until no other holder of ``path`` remains."""

    def __init__(self, path: Path, timeout: Optional[float] = None, cancel: Optional[CancelToken] = None,
                 poll_interval: float = 0.05, what: str = "") -> None:
        self.path = Path(path)
        self.timeout = timeout
        self.cancel = cancel
        self.poll_interval = poll_interval
        self.what = what or self.path.stem
        self._fd: Optional[int] = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        start = time.monotonic()
        told = False
        try:
            while not _try_lock(fd):
                if not told:
                    logger.info("waiting for another saltseg process working on %s", self.what)
                    told = True
                if self.cancel is not None:
                    self.cancel.raise_if_cancelled()
                if self.timeout is not None and time.monotonic() - start > self.timeout:
                    raise LockTimeoutError(
                        f"another saltseg process (Slicer or command line) is still working on {self.what} "
                        f"after {self.timeout:.0f} s; wait for it to finish and try again (lock: {self.path})"
                    )
                time.sleep(self.poll_interval)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            try:
                _unlock(self._fd)
            finally:
                os.close(self._fd)
                self._fd = None

    def __enter__(self) -> "ProcessLock":
        self.acquire()
        return self

    def __exit__(self, exc_type: Optional[type], exc: Optional[BaseException], tb: Optional[TracebackType]) -> None:
        self.release()
