"""Detecting truncated NIfTI files, which ITK reads without complaint (missing voxels become 0)."""
from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path
from typing import Optional

_CHUNK = 1 << 20


def _expected_bytes(header: bytes) -> Optional[int]:
    """vox_offset + voxel data size from a NIfTI-1 or NIfTI-2 header; None if not NIfTI."""
    for endian in ("<", ">"):
        (sizeof_hdr,) = struct.unpack(endian + "i", header[:4])
        if sizeof_hdr == 348 and len(header) >= 348:
            dims = struct.unpack(endian + "8h", header[40:56])
            (bitpix,) = struct.unpack(endian + "h", header[72:74])
            (vox_offset,) = struct.unpack(endian + "f", header[108:112])
            break
        if sizeof_hdr == 540 and len(header) >= 540:
            dims = struct.unpack(endian + "8q", header[16:80])
            (bitpix,) = struct.unpack(endian + "h", header[14:16])
            (vox_offset,) = struct.unpack(endian + "q", header[168:176])
            break
    else:
        return None
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


def nifti_truncation(path: Path) -> Optional[str]:
    """A description of how ``path`` is truncated, or None when it is complete (or not NIfTI)."""
    name = path.name.lower()
    if not (name.endswith(".nii") or name.endswith(".nii.gz")):
        return None
    compressed = name.endswith(".gz")
    try:
        with (gzip.open(path, "rb") if compressed else path.open("rb")) as stream:
            header = stream.read(540)
    except (EOFError, OSError, zlib.error):
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
