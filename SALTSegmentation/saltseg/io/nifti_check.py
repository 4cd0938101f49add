"""Detecting truncated NIfTI files, which ITK reads without complaint (missing voxels become 0), and
NIfTI-2 files, which ITK does not read at all."""
from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path
from typing import Optional

_CHUNK = 1 << 20

#: sizeof_hdr of each NIfTI version.
HEADER_SIZES = {1: 348, 2: 540}


def header_form(header: bytes) -> Optional[tuple[str, int]]:
    """(struct byte order, NIfTI version 1 or 2) from a header's sizeof_hdr; None if not NIfTI."""
    if len(header) < 4:
        return None
    for endian in ("<", ">"):
        (sizeof_hdr,) = struct.unpack(endian + "i", header[:4])
        for version, size in HEADER_SIZES.items():
            if sizeof_hdr == size:
                return endian, version
    return None


def _expected_bytes(header: bytes) -> Optional[int]:
    """vox_offset + voxel data size from a NIfTI-1 or NIfTI-2 header; None if not NIfTI."""
    form = header_form(header)
    if form is None or len(header) < HEADER_SIZES[form[1]]:
        return None
    endian, version = form
    if version == 1:
        dims = struct.unpack(endian + "8h", header[40:56])
        (bitpix,) = struct.unpack(endian + "h", header[72:74])
        (vox_offset,) = struct.unpack(endian + "f", header[108:112])
    else:
        dims = struct.unpack(endian + "8q", header[16:80])
        (bitpix,) = struct.unpack(endian + "h", header[14:16])
        (vox_offset,) = struct.unpack(endian + "q", header[168:176])
    count = 1
    for extent in dims[1 : 1 + max(0, min(int(dims[0]), 7))]:
        count *= max(int(extent), 1)
    return int(vox_offset) + count * int(bitpix) // 8


def _gzip_length(path: Path) -> Optional[int]:
    """Decompressed length, or None when the stream ends early or is corrupt."""
    total = 0
    try:
        with gzip.open(path, "rb") as stream:
            while chunk := stream.read(_CHUNK):
                total += len(chunk)
    except (EOFError, OSError, zlib.error):
        return None
    return total


def is_nifti_name(path: Path) -> bool:
    name = path.name.lower()
    return name.endswith(".nii") or name.endswith(".nii.gz")


def read_nifti_header(path: Path) -> bytes:
    """The first 540 bytes of a NIfTI file (empty when the stream is corrupt or the file unreadable)."""
    try:
        with (gzip.open(path, "rb") if path.name.lower().endswith(".gz") else path.open("rb")) as stream:
            return stream.read(540)
    except (EOFError, OSError, zlib.error):
        return b""


def nifti_version(path: Path) -> Optional[int]:
    """1 or 2 for a NIfTI file of either version, None for anything else."""
    form = header_form(read_nifti_header(path)) if is_nifti_name(path) else None
    return form[1] if form is not None else None


def nifti_truncation(path: Path) -> Optional[str]:
    """A description of how ``path`` is truncated, or None when it is complete (or not NIfTI)."""
    if not is_nifti_name(path):
        return None
    compressed = path.name.lower().endswith(".gz")
    header = read_nifti_header(path)
    if not header:
        return "its compressed stream is corrupt"
    expected = _expected_bytes(header)
    if expected is None:
        return None
    actual = _gzip_length(path) if compressed else path.stat().st_size
    if actual is None:
        return "its compressed stream ends early"
    if actual < expected:
        return f"it holds {actual} of the {expected} bytes its header announces"
    return None
