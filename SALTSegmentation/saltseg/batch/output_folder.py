"""A cohort's output folder: created if needed and held by one batch run at a time (a second run
on the same folder fails at once, saying who holds it), for segmenting and organising alike."""
from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Iterator, Union

from ..errors import OutputError
from ..models.lock import ProcessLock

LOCK_FILE = ".saltseg-batch.lock"


@contextlib.contextmanager
def locked_output_folder(outdir: Union[str, Path]) -> Iterator[Path]:
    """The absolute output folder, created, while this process holds its batch lock."""
    folder = Path(outdir).expanduser().absolute()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputError(f"cannot create the output folder {folder}: {error.strerror}") from error
    with ProcessLock(folder / LOCK_FILE, timeout=0, what=f"the batch output folder {folder}"):
        yield folder
