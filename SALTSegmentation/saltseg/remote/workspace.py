"""The server's work folder: the only place ``saltseg serve`` writes the CTs and results of its jobs.

Layout: ``WORK/.lock`` (held while a server runs: two servers never share a folder) and
``WORK/jobs/ID/`` (one folder per job, named by its server-made id, readable by the server's user
only; ``jobs`` is the engine process's working folder). What a killed server left in
``jobs/`` is removed when the next one starts, and the server removes each job's folder when the
job ends, its results are downloaded or its time is up.
"""
from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Optional, Union

from ..errors import LockTimeoutError, SaltSegError
from .api import JOB_ID_PATTERN

if TYPE_CHECKING:
    from ..models.lock import ProcessLock

logger = logging.getLogger(__name__)


def default_work_dir() -> Path:
    """Beside the user's other saltseg caches (IT usually gives ``--work-dir`` on an encrypted volume)."""
    import platformdirs

    return Path(platformdirs.user_cache_dir("saltseg")) / "server"


class WorkspaceError(SaltSegError):
    """The work folder cannot be used (in use by another server, not writable)."""


class Workspace:
    def __init__(self, root: Union[str, Path]) -> None:
        self.root = Path(root).expanduser().absolute()
        self.jobs = self.root / "jobs"
        self._lock: Optional[ProcessLock] = None

    def open(self) -> list[str]:
        """Take the folder (lock it) and remove what an earlier server left; returns those names."""
        from ..models.lock import ProcessLock, holder_description

        try:
            for folder in (self.root, self.jobs):
                folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            lock = ProcessLock(self.root / ".lock", timeout=0, what=f"the work folder {self.root}")
            lock.acquire()
        except LockTimeoutError:
            holder = holder_description(self.root / ".lock")
            raise WorkspaceError(f"the work folder {self.root} is in use by another saltseg serve"
                                 f"{f' ({holder})' if holder else ''}; give each server its own --work-dir") from None
        except OSError as error:
            raise WorkspaceError(f"cannot use the work folder {self.root}: {error.strerror or error}") from None
        self._lock = lock
        return self.clean()

    def clean(self) -> list[str]:
        """Remove every job folder (called at start: no job of an earlier server can be resumed)."""
        removed = []
        for entry in sorted(self.jobs.iterdir()):
            _remove(entry)
            removed.append(entry.name)
        if removed:
            logger.warning("removed %d job file(s) left in %s by a server that stopped during its jobs",
                           len(removed), self.root)
        return removed

    def job_folder(self, job_id: str) -> Path:
        """The folder of the job ``job_id`` (an id the server made: checked, never a client's name)."""
        if not JOB_ID_PATTERN.fullmatch(job_id):
            raise ValueError(f"not a job id: {job_id[:40]!r}")
        return self.jobs / job_id

    def create_job_folder(self, job_id: str) -> Path:
        folder = self.job_folder(job_id)
        folder.mkdir(mode=0o700)
        return folder

    def remove_job(self, job_id: str) -> None:
        _remove(self.job_folder(job_id))

    def close(self) -> None:
        """Remove every job's files and give the folder up."""
        try:
            self.clean()
        finally:
            if self._lock is not None:
                self._lock.release()
                self._lock = None

    def used_bytes(self) -> int:
        return sum(path.stat().st_size for path in self.jobs.rglob("*") if path.is_file())


def _remove(entry: Path) -> None:
    try:
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink(missing_ok=True)
    except OSError as error:
        logger.error("cannot remove %s: %s", entry, error)


def job_file(folder: Path, name: str) -> Optional[Path]:
    """``folder/name`` if that is a plain file directly inside ``folder`` (else None)."""
    path = folder / name
    if path.parent != folder or path.is_symlink() or not path.is_file():
        return None
    return path if os.path.realpath(path).startswith(os.path.realpath(folder) + os.sep) else None
