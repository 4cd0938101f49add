"""An exclusive lock shared by processes (two Slicer instances, a CLI run) and threads.

``fcntl.flock`` on POSIX and ``msvcrt.locking`` on Windows; both conflict between two open file
handles even inside one process, so threads are covered as well. The lock dies with the process,
so a crashed download never leaves a stale lock behind. Lock files are never deleted: removing a
lock file while another process waits on it would let a third process lock a different inode.
The holder writes its pid and start time into the file, so a refused process can say who holds the
lock and for how long.
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


def _duration(seconds: float) -> str:
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def holder_description(path: Path) -> str:
    """``pid 1234, running for 3 min`` from what the holder wrote into the lock file, or ""."""
    try:
        pid, started = path.read_text(encoding="ascii").split()[:2]
        return f"pid {int(pid)}, running for {_duration(max(0.0, time.time() - float(started)))}"
    except (OSError, ValueError):  # no holder info yet (older version), or unreadable (Windows lock)
        return ""


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
                if self.timeout is not None and time.monotonic() - start >= self.timeout:
                    raise LockTimeoutError(self._busy_message(time.monotonic() - start))
                time.sleep(self.poll_interval)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        self._write_holder(fd)

    def _write_holder(self, fd: int) -> None:
        try:
            os.lseek(fd, 0, os.SEEK_SET)
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()} {time.time():.3f}\n".encode("ascii"))
        except OSError as error:  # the lock holds anyway; only the message loses detail
            logger.info("cannot note this process in %s: %s", self.path, error)

    def _busy_message(self, waited: float) -> str:
        holder = holder_description(self.path)
        who = f"another saltseg process (Slicer or command line{'; ' + holder if holder else ''})"
        waiting = f" (waited {_duration(waited)})" if self.timeout else ""
        return (f"{who} is working on {self.what}{waiting}; wait for it to finish and try again "
                f"(lock: {self.path})")

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
