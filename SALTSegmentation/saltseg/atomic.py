"""Files that appear only complete: write to a temporary file beside the target, then rename.

Temporary names are ``.<target name>.<random>.part<suffix>`` (a folder ``...part`` for formats
that write two files); a process killed while writing leaves one behind, which
:func:`remove_stale_parts` removes on a later run. A write that fails for want of room or any other
I/O reason (the disk filled up meanwhile, a file size limit, a quota) raises
:class:`WriteFailedError`, one line naming the target and the reason, with the target untouched.
"""
from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import tempfile
import time
from pathlib import Path
from typing import Callable, Iterator, Optional, Union, cast

from .errors import SaltSegError, WriteFailedError

logger = logging.getLogger(__name__)

#: Bytes written to a scratch file to learn whether the file system takes more data (after an image
#: writer failed without an errno, or reported success it cannot vouch for): enough to hit a full
#: disk, a quota or a file size limit.
_PROBE_BYTES = 1 << 20


class IncompleteWrite(Exception):
    """A writer reported success but its file cannot be complete (see :func:`confirm_room`)."""

    def __init__(self, reason: str, errno_code: Optional[int] = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.errno = errno_code


def _probe(folder: Path) -> Optional[OSError]:
    """The error writing :data:`_PROBE_BYTES` into ``folder`` raises now, or None if it works."""
    try:
        fd, name = tempfile.mkstemp(dir=folder, prefix=".saltseg-space-probe.")
    except OSError as error:
        return error
    try:
        block = memoryview(bytes(_PROBE_BYTES))
        while block:  # a write stopped by a limit first succeeds short; the next one says why
            block = block[os.write(fd, block):]
        os.fsync(fd)
    except OSError as error:
        return error
    finally:
        os.close(fd)
        os.unlink(name)
    return None


def confirm_room(folder: Union[str, Path]) -> None:
    """Raise :class:`IncompleteWrite` when ``folder``'s file system refuses more data right after
    a write that reported success. SimpleITK's writers do not check every write (niftilib none,
    NRRD and PNG not the last buffered one): a disk that fills up, a quota or a file size limit
    leaves them a short file and no error. A full file system right after the write says that
    this happened; a disk with room says it did not."""
    refused = _probe(Path(folder))
    if refused is not None:
        raise IncompleteWrite(refused.strerror or str(refused), refused.errno)


def _image_writer_failure(error: BaseException) -> bool:
    return isinstance(error, RuntimeError) and str(error).startswith("Exception thrown in SimpleITK")


def write_failure(target: Union[str, Path], error: BaseException, folder: Optional[Path] = None
                  ) -> Optional[WriteFailedError]:
    """``error``, raised while writing ``target``, as a :class:`WriteFailedError`; None for what is
    no I/O failure (a bug, a cancel, Ctrl-C, an engine error), which must propagate as it is.
    ``folder``: where the write happened, probed (while the partial file still takes its room)
    when SimpleITK's writer says neither errno nor, as for most formats, why."""
    target = Path(target)
    if not isinstance(error, Exception) or isinstance(error, SaltSegError):
        return None
    if isinstance(error, OSError):
        reason, code = error.strerror or str(error), error.errno
    elif isinstance(error, IncompleteWrite):
        reason, code = error.reason, error.errno
    elif _image_writer_failure(error):
        found = re.search(r"Reason: (.+)", str(error))
        probed = None if found else _probe(folder or target.parent)
        if found:
            reason, code = found.group(1).strip(), None
        elif probed is not None:
            reason, code = probed.strerror or str(probed), probed.errno
        else:
            lines = [line.strip() for line in str(error).splitlines() if line.strip()]
            reason, code = f"the image writer failed ({lines[-1] if lines else 'no reason given'})", None
    else:
        return None
    return WriteFailedError(f"cannot write {target}: {reason} (nothing was written)", target, reason, code)


def _default_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


@contextlib.contextmanager
def atomic_path(target: Union[str, Path], suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path in the target's folder; on success it is renamed onto ``target``
    (atomic on one file system), on any error it is removed and ``target`` is left untouched.

    ``suffix`` keeps the extension for writers that choose the format from it (``.nii.gz``).
    """
    target = Path(target)
    try:
        fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=f".part{suffix}")
    except OSError as error:
        # an OSError from mkstemp/mkdtemp (no SaltSegError) is always converted, never None
        raise cast(WriteFailedError, write_failure(target, error)) from error
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.chmod(tmp, _default_mode())
        os.replace(tmp, target)
    except BaseException as error:
        failure = write_failure(target, error)  # before the partial file's room is freed
        tmp.unlink(missing_ok=True)
        if failure is not None:
            raise failure from error
        raise


def atomic_write(target: Union[str, Path], write: Callable[[Path], object], suffix: str = "") -> Path:
    """Call ``write(tmp_path)`` (its return value is ignored) and move the result onto ``target`` only
    if it succeeds."""
    with atomic_path(target, suffix) as tmp:
        write(tmp)
    return Path(target)


def atomic_write_with_data_files(target: Union[str, Path], write: Callable[[Path], None]) -> list[Path]:
    """For formats whose header names a separate data file (``.mhd`` + ``.zraw``, ``.nhdr`` +
    ``.raw.gz``): ``write(path)`` writes ``path`` (named as ``target``, so the header names the final
    data file) inside a temporary folder beside ``target``; then the data files are renamed into
    place first and the header last. A header therefore only ever appears with complete data, and on
    any error nothing is moved. Returns the header and its data files."""
    target = Path(target)
    try:
        folder = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part"))
    except OSError as error:
        # an OSError from mkstemp/mkdtemp (no SaltSegError) is always converted, never None
        raise cast(WriteFailedError, write_failure(target, error)) from error
    try:
        write(folder / target.name)
        data_files = sorted(p for p in folder.iterdir() if p.name != target.name)
        moved = []
        for path in data_files + [folder / target.name]:
            os.chmod(path, _default_mode())
            os.replace(path, target.parent / path.name)
            moved.append(target.parent / path.name)
        return [moved[-1]] + moved[:-1]
    except BaseException as error:
        failure = write_failure(target, error, folder)
        if failure is not None:
            raise failure from error
        raise
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _part_pattern(target_name: str) -> "re.Pattern[str]":
    # mkstemp/mkdtemp add 8 characters of [a-z0-9_]: only names this module made match.
    return re.compile(rf"^\.{re.escape(target_name)}\.[a-z0-9_]{{8}}\.part")


def remove_stale_parts(target: Union[str, Path], older_than_s: float = 0.0,
                       before: Optional[float] = None) -> list[Path]:
    """Remove the temporary files (and folders) this module left for ``target`` when a process
    was killed while writing: only names of our own pattern, only those last modified more than
    ``older_than_s`` seconds ago (or before the time stamp ``before``). Returns what was removed."""
    target = Path(target)
    cutoff = time.time() - older_than_s if before is None else before
    pattern = _part_pattern(target.name)
    removed: list[Path] = []
    try:
        entries = list(target.parent.iterdir())
    except OSError:
        return removed
    for entry in entries:
        if not pattern.match(entry.name):
            continue
        try:
            if entry.lstat().st_mtime >= cutoff:
                continue  # may still be written by a live process
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
        except OSError as error:
            logger.info("cannot remove the stale partial file %s: %s", entry, error)
            continue
        logger.info("removed %s, left by an interrupted earlier run", entry)
        removed.append(entry)
    return removed
