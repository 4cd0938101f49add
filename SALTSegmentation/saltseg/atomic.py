"""Files that appear only complete: write to a temporary file beside the target, then rename.

Temporary names are ``.<target name>.<random>.part<suffix>`` (a folder ``...part`` for formats
that write two files); a process killed while writing leaves one behind, which
:func:`remove_stale_parts` removes on a later run.
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
from typing import Callable, Iterator, Optional, Union

logger = logging.getLogger(__name__)


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
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=f".part{suffix}")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.chmod(tmp, _default_mode())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write(target: Union[str, Path], write: Callable[[Path], None], suffix: str = "") -> Path:
    """Call ``write(tmp_path)`` and move the result onto ``target`` only if it succeeds."""
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
    folder = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part"))
    try:
        write(folder / target.name)
        data_files = sorted(p for p in folder.iterdir() if p.name != target.name)
        moved = []
        for path in data_files + [folder / target.name]:
            os.chmod(path, _default_mode())
            os.replace(path, target.parent / path.name)
            moved.append(target.parent / path.name)
        return [moved[-1]] + moved[:-1]
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
    removed = []
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
