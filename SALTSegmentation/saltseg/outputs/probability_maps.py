"""Probability maps beside the output: one file per requested tree node, and the confidence.

Names: ``<base>.prob.<node>.nii.gz`` and ``<base>.confidence.nii.gz``, where ``<base>`` is the
output path without its format's suffix (the node masks' rule: ``ct.seg.nrrd`` → ``ct``) — or the
front end's labelmap's, for a job that writes only that — and ``<node>`` the node's tree path with
dashes (``body-bones-spine``). With ``float`` they end in ``.nrrd`` instead.

Scale:

* ``uint8`` (default): NIfTI, stored value ``v`` means probability ``v / 255``. The header says so
  in two ways: ``scl_slope = 1/255`` (ITK, 3D Slicer and nibabel therefore read 0–1 floats) and the
  ``descrip`` text. 1 byte per voxel, steps of 0.004.
* ``float``: float32 NRRD (gzip), 0–1. NRRD has no float16 type and ITK writes no half floats, so
  float maps are float32; their values come from 16-bit maps (steps of 1/65535).

Every file is written through the atomic writers (temporary name, then rename), so a failed or
interrupted write leaves nothing under the final name.
"""
from __future__ import annotations

import gzip
import logging
import shutil
import struct
from pathlib import Path
from typing import Union

import numpy as np
import SimpleITK as sitk

from ..atomic import IncompleteWrite, atomic_write, confirm_room, remove_stale_parts
from ..errors import OutputError
from ..io.nifti_check import nifti_truncation
from ..io.writers import LABELMAP_SUFFIXES, SEG_NRRD, STALE_PART_AGE_S, write_image_file

logger = logging.getLogger(__name__)

PROBABILITY_DTYPES = ("uint8", "float")
UINT8_SCALE = 255
_SUFFIX = {"uint8": ".nii.gz", "float": ".nrrd"}
#: NIfTI-1 header: sizeof_hdr at 0, scl_slope and scl_inter (float32) at 112.
_NIFTI_HEADER_BYTES, _SCL_OFFSET = 348, 112
_DESCRIP_CHARS = 79


def check_dtype(dtype: str) -> str:
    if dtype not in PROBABILITY_DTYPES:
        raise OutputError(f"the probability maps' type must be one of {', '.join(PROBABILITY_DTYPES)}, got {dtype!r}")
    return dtype


def output_stem(output: Union[str, Path]) -> str:
    """The output's name without its format's suffix (as the node masks beside it are named)."""
    name = Path(output).name
    lower = name.lower()
    for suffix in (SEG_NRRD,) + LABELMAP_SUFFIXES:
        if lower.endswith(suffix):
            return name[: -len(suffix)]
    return name[: -len(Path(name).suffix)] if Path(name).suffix else name


def probability_map_path(base: Union[str, Path], node_id: str, dtype: str = "uint8") -> Path:
    """``ct.seg.nrrd`` + ``body,bones,spine`` → ``ct.prob.body-bones-spine.nii.gz``."""
    base = Path(base)
    return base.with_name(f"{output_stem(base)}.prob.{node_id.replace(',', '-')}{_SUFFIX[check_dtype(dtype)]}")


def confidence_map_path(base: Union[str, Path], dtype: str = "uint8") -> Path:
    """``ct.seg.nrrd`` → ``ct.confidence.nii.gz``."""
    base = Path(base)
    return base.with_name(f"{output_stem(base)}.confidence{_SUFFIX[check_dtype(dtype)]}")


def write_probability_map(image: sitk.Image, path: Union[str, Path], dtype: str, what: str) -> Path:
    """Write a 0–1 float image (``what``: a node's tree path, or ``confidence``) as ``dtype`` says."""
    path = Path(path)
    if check_dtype(dtype) == "float":
        stored = sitk.Cast(image, sitk.sitkFloat32)
        stored.SetMetaData("ITK_FileNotes", f"SALT probability 0-1: {what}")
        return write_image_file(stored, path)[0]
    values = sitk.GetArrayViewFromImage(image)
    stored = sitk.GetImageFromArray(np.rint(np.clip(values, 0.0, 1.0) * UINT8_SCALE).astype(np.uint8))
    stored.CopyInformation(image)
    stored.SetMetaData("ITK_FileNotes", f"SALT probability = value/{UINT8_SCALE}: {what}"[:_DESCRIP_CHARS])
    remove_stale_parts(path, older_than_s=STALE_PART_AGE_S)
    if path.exists():
        logger.info("replacing the existing %s", path)
    return atomic_write(path, lambda tmp: _write_scaled_nifti(stored, tmp), suffix=".nii.gz")


def _write_scaled_nifti(image: sitk.Image, target: Path) -> None:
    """A gzipped NIfTI whose header carries ``scl_slope = 1/255``, which SimpleITK cannot set: the
    file is written uncompressed beside ``target`` (a name of the same temporary pattern, so a
    killed run's leftover is found as stale), patched, then compressed into ``target``."""
    plain = target.with_name(target.name[: -len(".gz")])
    try:
        sitk.WriteImage(image, str(plain), False)
        with open(plain, "r+b") as stream:
            header = stream.read(_NIFTI_HEADER_BYTES)
            endian = next((e for e in "<>" if struct.unpack(e + "i", header[:4])[0] == _NIFTI_HEADER_BYTES), None)
            if endian is None:
                raise IncompleteWrite("the NIfTI writer wrote no NIfTI-1 header")
            stream.seek(_SCL_OFFSET)
            stream.write(struct.pack(endian + "ff", 1.0 / UINT8_SCALE, 0.0))
        with open(plain, "rb") as source, open(target, "wb") as raw, \
                gzip.GzipFile(filename="", mode="wb", compresslevel=6, fileobj=raw, mtime=0) as compressed:
            shutil.copyfileobj(source, compressed, 1 << 20)
    finally:
        plain.unlink(missing_ok=True)
    confirm_room(target.parent)
    problem = nifti_truncation(target)
    if problem:
        raise IncompleteWrite(f"the file came out incomplete ({problem})")
