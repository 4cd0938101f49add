"""A cohort's output folder: created if needed and held by one batch run at a time (a second run
on the same folder fails at once, saying who holds it), for segmenting and organising alike.

A run makes every check of its own first (inputs, model, options) and only then takes the folder,
so that a refused run leaves no folder and no lock behind."""
from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Iterator, Union

from ..errors import OutputError
from ..io.output_check import check_output_locations
from ..models.lock import ProcessLock

LOCK_FILE = ".saltseg-batch.lock"


def output_folder_path(outdir: Union[str, Path]) -> Path:
    """The absolute output folder, as :func:`locked_output_folder` takes it (nothing is created)."""
    return Path(outdir).expanduser().absolute()


@contextlib.contextmanager
def locked_output_folder(outdir: Union[str, Path]) -> Iterator[Path]:
    """The absolute output folder, created and writable, while this process holds its batch lock."""
    folder = output_folder_path(outdir)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputError(f"cannot create the output folder {folder}: {error.strerror}") from error
    check_output_locations([folder / LOCK_FILE])  # an existing folder may refuse new files (read-only)
    with ProcessLock(folder / LOCK_FILE, timeout=0, what=f"the batch output folder {folder}"):
        yield folder
