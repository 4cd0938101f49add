"""What an uploaded CT is, and whether the engine can segment it, before the job is queued.

The format is told by the file's first bytes, never by a client's file name. Only single files
are taken: an NRRD or MHA header may name a separate data file (``data file: /etc/...``), which
would make the reader open a file of the server's, so such headers are refused. Then the upload is
read by the command line's own checked reader and image check (:func:`~saltseg.io.image_io.read_image`,
:func:`~saltseg.io.image_io.check_ct_image`): a truncated, corrupt, 4D or implausible CT is refused
with the engine's words, naming "the uploaded CT" instead of the server's path.
"""
from __future__ import annotations

import gzip
import io
import logging
import re
import zlib
from pathlib import Path
from typing import Optional

from ..errors import InputImageError

logger = logging.getLogger(__name__)

#: Header bytes read to tell the format (an NRRD or MHA header is text, rarely over a few kB).
_HEADER_BYTES = 1 << 16
UPLOAD_NAME = "the uploaded CT"


def _nifti_kind(header: bytes) -> Optional[str]:
    if len(header) >= 348 and header[344:348] in (b"n+1\0",):
        return ".nii"
    if len(header) >= 540 and header[4:8] == b"n+2\0":
        return ".nii"
    return None


def _text_header(head: bytes) -> list[str]:
    text = head.split(b"\n\n", 1)[0].split(b"\r\n\r\n", 1)[0]
    return text.decode("latin-1").splitlines()


def upload_suffix(path: Path) -> str:
    """The file ending the upload's content calls for (``.nii.gz``, ``.nii``, ``.nrrd``, ``.mha``);
    :class:`InputImageError` for anything else, or a header naming another file."""
    with open(path, "rb") as stream:
        head = stream.read(_HEADER_BYTES)
    if head[:2] == b"\x1f\x8b":
        try:
            inner = gzip.GzipFile(fileobj=io.BytesIO(head)).read(540)
        except (OSError, EOFError, zlib.error):
            inner = b""
        if _nifti_kind(inner):
            return ".nii.gz"
        raise InputImageError(f"{UPLOAD_NAME} is gzip-compressed but no NIfTI image (send .nii.gz, .nrrd or .mha)")
    if _nifti_kind(head):
        return ".nii"
    if head.startswith(b"NRRD"):
        for line in _text_header(head)[1:]:
            key = line.split(":", 1)[0].strip().lower()
            if key in ("data file", "datafile"):
                raise InputImageError(f"{UPLOAD_NAME} is an NRRD header naming a separate data file; send one "
                                      "file (.nrrd with the data attached, or .nii.gz)")
        return ".nrrd"
    lines = _text_header(head)
    if lines and re.match(r"\s*(ObjectType|NDims)\s*=", lines[0]):
        for line in lines:
            key, _, value = line.partition("=")
            if key.strip() == "ElementDataFile" and value.strip().upper() != "LOCAL":
                raise InputImageError(f"{UPLOAD_NAME} is a MetaImage header naming a separate data file; send "
                                      "one file (.mha with the data attached, or .nii.gz)")
        return ".mha"
    raise InputImageError(f"{UPLOAD_NAME} is no NIfTI, NRRD or MHA image (a DICOM series is converted by the "
                          "client; send .nii.gz or .nrrd)")


def check_upload(path: Path) -> list[str]:
    """Read the upload as the command line reads a CT; its warnings, or :class:`InputImageError`
    with the reader's message about ``UPLOAD_NAME``."""
    from ..io.image_io import check_ct_image, read_image

    try:
        image = read_image(path)
        return check_ct_image(image).warnings
    except InputImageError as error:
        raise InputImageError(scrub(str(error), path)) from None


def scrub(message: str, *paths: Path) -> str:
    """``message`` naming :data:`UPLOAD_NAME` (or the file's name) instead of the server's paths."""
    for path in paths:
        message = message.replace(f"input {path}", UPLOAD_NAME).replace(str(path), UPLOAD_NAME)
    return message
