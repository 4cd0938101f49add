"""Files that appear only complete: write to a temporary file beside the target, then rename."""
from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Callable, Iterator, Union


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
