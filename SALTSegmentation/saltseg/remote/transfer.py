"""The files of a remote job on the client's side: the CT as it is sent, and result files received
into place all together or not at all.

A CT already in one compressed file the server reads (``.nii.gz``; ``.nrrd``/``.mha`` with gzip
data attached) goes as it is, byte for byte; anything else (a DICOM series, ``.nii``, an
uncompressed or two-file image) is written to a compressed NRRD first, from the image the client
read and checked. Received files go to a hidden temporary name beside their target (the
:mod:`saltseg.atomic` naming, so a killed client's leftovers are recognised) and are renamed into
place only once every one of them arrived.
"""
from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path
from typing import Iterator, Sequence

from ..errors import InputImageError

logger = logging.getLogger(__name__)

#: Compressed NRRD for what must be converted: lossless, and SimpleITK reads it back exactly.
CONVERTED_NAME = "ct.nrrd"


def _header_text(path: Path) -> str:
    with open(path, "rb") as stream:
        return stream.read(1 << 16).split(b"\n\n", 1)[0].decode("latin-1")


def sent_as_is(path: Path) -> bool:
    """``path`` is one compressed image file the server takes as it is."""
    from .upload_check import upload_suffix

    if not path.is_file():
        return False
    try:
        suffix = upload_suffix(path)
    except (InputImageError, OSError):
        return False
    if suffix == ".nii.gz":
        return True
    header = _header_text(path).lower()
    if suffix == ".nrrd":
        return any(line.split(":", 1)[0].strip() == "encoding" and line.split(":", 1)[1].strip() in ("gzip", "gz")
                   for line in header.splitlines() if ":" in line)
    if suffix == ".mha":
        return any(line.split("=", 1)[0].strip() == "compresseddata" and line.split("=", 1)[1].strip() == "true"
                   for line in header.splitlines() if "=" in line)
    return False


def upload_file(source: Path, image, scratch: Path) -> Path:
    """The file to send for the CT ``source`` (read as ``image``): ``source`` itself, or a
    compressed NRRD of ``image`` in ``scratch``."""
    import SimpleITK as sitk

    if sent_as_is(source):
        return source
    target = scratch / CONVERTED_NAME
    sitk.WriteImage(image, str(target), True)
    logger.info("converted %s to a compressed NRRD for the upload (%.1f MB)", source, target.stat().st_size / 1e6)
    return target


@contextlib.contextmanager
def received_files(targets: Sequence[Path]) -> Iterator[list[Path]]:
    """Temporary files beside ``targets`` to receive into; on a clean exit they are renamed onto
    the targets (those already renamed are removed again if a later rename fails), on any error
    removed. The caller then owns the targets."""
    import tempfile

    temporary: list[Path] = []
    placed: list[Path] = []
    try:
        for target in targets:
            fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
            os.close(fd)
            temporary.append(Path(name))
        yield temporary
        umask = os.umask(0)
        os.umask(umask)
        for source, target in zip(temporary, targets):
            os.chmod(source, 0o666 & ~umask)  # as any other file the user writes, not mkstemp's 0600
            os.replace(source, target)
            placed.append(target)
    except BaseException:
        for path in placed:
            path.unlink(missing_ok=True)
        raise
    finally:
        for path in temporary:
            path.unlink(missing_ok=True)
