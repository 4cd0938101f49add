"""Checks of every output location before any work, so that a run never ends, minutes later, in a
failed write — or in a written file that replaced its own input.

    refuse_outputs_on_inputs(outputs, inputs)          # no output may be (or sit in) an input
    existing = check_output_locations(outputs, voxels)  # folders exist, writable, enough space

Both take every output of a run in one list (main output, its label table, masks, preview, a
statistics table...), so a new output option only adds its path to that list.
"""
from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterable, Optional, Sequence, Union

from ..errors import OutputError
from .detached_files import named_data_files, written_data_files

logger = logging.getLogger(__name__)

PathLike = Union[str, Path]
_MB = 1 << 20
#: Outputs that are no voxel volume (a PNG preview, a label table, a CSV) get this much room.
SMALL_OUTPUT_BYTES = 8 * _MB
#: Free space kept beyond the estimate (the file system must not be filled to the last byte).
MARGIN_BYTES = 64 * _MB
_VOLUME_SUFFIXES = (".nii.gz", ".nii", ".nrrd", ".nhdr", ".mha", ".mhd", ".seg.dcm")


def estimated_bytes(path: Path, voxels: int) -> int:
    """An upper bound of the size of ``path`` for a result of ``voxels`` voxels: a volume as if
    uncompressed with 16-bit labels (compression usually makes it far smaller), anything else
    :data:`SMALL_OUTPUT_BYTES`."""
    if path.name.lower().endswith(_VOLUME_SUFFIXES):
        return 2 * voxels
    return SMALL_OUTPUT_BYTES


def resolved(path: Path) -> Path:
    """``path`` with its symbolic links followed as far as they lead: a link loop (or any path the
    system cannot resolve) is compared as it is instead of stopping the check with an error —
    reading or writing it fails later, with its own message."""
    return Path(os.path.realpath(path))


def _inode(path: Path) -> Optional[tuple[int, int]]:
    try:
        stat = path.stat()
    except OSError:  # does not exist (yet)
        return None
    return stat.st_dev, stat.st_ino


def refuse_outputs_on_inputs(outputs: Sequence[PathLike], inputs: Iterable[PathLike], compress: bool = True) -> None:
    """Raise :class:`OutputError` when an output would replace an input file (same path, symbolic
    or hard link) or land directly inside an input DICOM folder, or when two outputs are one file.
    A detached header's data files count with it: an input ``.mhd``'s data file is an input, and
    the data file an output ``.mhd`` writes (compressed or not, as ``compress`` says) is an output.
    Linear in the number of paths (a batch compares thousands of outputs with thousands of inputs)."""
    files: dict[Path, str] = {}  # resolved input file → how to name it in a message
    inodes: dict[tuple[int, int], str] = {}
    folders: dict[Path, Path] = {}
    for item in inputs:
        source = Path(item)
        if source.is_dir():
            folders[resolved(source)] = source
            continue
        named = [(source, str(source))] + [(data, f"{source}'s data file {data.name}")
                                           for data in named_data_files(source)]
        for path, description in named:
            files[resolved(path)] = description
            inode = _inode(path)
            if inode is not None:
                inodes[inode] = description
    seen: dict[Path, Path] = {}
    for item in outputs:
        output = Path(item)
        for written in [output] + written_data_files(output, compress):
            _refuse_one(output, written, files, inodes, folders, seen)


def _refuse_one(output: Path, written: Path, files: dict[Path, str], inodes: dict[tuple[int, int], str],
                folders: dict[Path, Path], seen: dict[Path, Path]) -> None:
    """``written`` is ``output`` itself or a data file it may write."""
    real = resolved(written)
    name = str(output) if written == output else f"{output}'s data file {written.name}"
    if real in seen:
        raise OutputError(f"two outputs are the same file {written}; give them different names")
    seen[real] = output
    source = files.get(real) or inodes.get(_inode(written) or (-1, -1))
    if source is not None:
        raise OutputError(f"output {name} is the input {source}: writing it would destroy the input; "
                          "choose another output name (nothing was written)")
    folder = folders.get(real.parent)
    if folder is not None:
        raise OutputError(f"output {name} would be written into the input DICOM folder {folder}; "
                          "write it elsewhere (nothing was written)")


def _check_writable(folder: Path, output: Path) -> None:
    if not folder.exists():
        raise OutputError(f"output folder {folder} does not exist (for {output.name}); create it first")
    if not folder.is_dir():
        raise OutputError(f"{folder} is not a folder (in the output path {output})")
    try:  # really create a file: permissions, read-only mounts and ACLs all show up here
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".saltseg-write-test.")
    except OSError as error:
        raise OutputError(f"cannot write in the output folder {folder}: {error.strerror or error}") from error
    os.close(fd)
    os.unlink(probe)


def check_output_locations(outputs: Sequence[PathLike], voxels: int = 0) -> list[Path]:
    """Check every output before any work: its folder exists and is writable, the output is not a
    folder, and each file system has room for the outputs on it (:func:`estimated_bytes` of a
    ``voxels``-voxel result; 0 skips the space check). Returns the outputs that exist already (they
    will be replaced). Raises :class:`OutputError` with one line naming the problem."""
    paths = [Path(p) for p in outputs]
    checked: set[Path] = set()
    needed: dict[int, tuple[Path, int]] = {}  # st_dev → (a folder on it, bytes needed there)
    existing = []
    for path in paths:
        if path.is_dir():
            raise OutputError(f"output {path} is a folder; give a file name")
        folder = path.parent if str(path.parent) else Path(".")
        if folder not in checked:
            _check_writable(folder, path)
            checked.add(folder)
        if path.exists():
            existing.append(path)
        if voxels:
            device = os.stat(folder).st_dev
            where, total = needed.get(device, (folder, 0))
            needed[device] = (where, total + estimated_bytes(path, voxels))
    for folder, total in needed.values():
        free = shutil.disk_usage(folder).free
        if free < total + MARGIN_BYTES:
            raise OutputError(f"not enough free space in {folder}: {free / _MB:.0f} MB free, the outputs need up to "
                              f"{(total + MARGIN_BYTES) / _MB:.0f} MB; free some space or write elsewhere")
    logger.info("%d output location(s) checked%s", len(paths),
                f"; {len(existing)} existing file(s) will be replaced" if existing else "")
    return existing


def replaced_note(existing: Sequence[Path]) -> Optional[str]:
    """``replaced the existing ct.seg.nrrd`` for the run's summary line, or None."""
    if not existing:
        return None
    return "replaced the existing " + ", ".join(path.name for path in existing)
