"""A NIfTI header that places the image twice (qform and sform) in different places.

Both transforms may be set, and readers disagree on which wins: nibabel (and the tools built on
it) takes the sform whenever its code is set; ITK (SimpleITK, Slicer, this tool) took the sform of
code 1 (scanner) but the qform beside an sform of code 2 (aligned). Measured: with such an sform
50 mm off the qform, SimpleITK placed the image 50 mm from where nibabel did, without a word. Which
one ITK used is read off the image it returned, not assumed. Such a header is not refused (one
of the two is usually right, and ITK's choice is Slicer's), but the user is told which transform
placed the labels and how far the other one is.
"""
from __future__ import annotations

import math
import struct
from itertools import product
from pathlib import Path
from typing import Optional

import numpy as np
import SimpleITK as sitk

from .nifti_check import HEADER_SIZES, header_form, is_nifti_name, read_nifti_header

#: Transform codes of the NIfTI standard.
XFORM_NAMES = {1: "scanner", 2: "aligned", 3: "Talairach", 4: "MNI", 5: "template"}


def _transforms(header: bytes) -> Optional[tuple[tuple[int, ...], int, np.ndarray, int, np.ndarray]]:
    """(dims, qform code, qform voxel→RAS 4×4, sform code, sform 4×4) from a NIfTI-1 header (ITK
    reads no NIfTI-2: :func:`saltseg.io.nifti_check.nifti_version`)."""
    form = header_form(header)
    if form is None or form[1] != 1 or len(header) < HEADER_SIZES[1]:
        return None
    endian = form[0]
    dims = struct.unpack(endian + "8h", header[40:56])
    pixdim = struct.unpack(endian + "8f", header[76:108])
    qcode, scode = struct.unpack(endian + "2h", header[252:256])
    b, c, d, x, y, z = struct.unpack(endian + "6f", header[256:280])
    rows = struct.unpack(endian + "12f", header[280:328])
    a = math.sqrt(max(0.0, 1.0 - (b * b + c * c + d * d)))
    rotation = np.array([[a * a + b * b - c * c - d * d, 2 * (b * c - a * d), 2 * (b * d + a * c)],
                         [2 * (b * c + a * d), a * a + c * c - b * b - d * d, 2 * (c * d - a * b)],
                         [2 * (b * d - a * c), 2 * (c * d + a * b), a * a + d * d - c * c - b * b]])
    qfac = -1.0 if pixdim[0] < 0 else 1.0
    qform = np.eye(4)
    qform[:3, :3] = rotation * np.array([pixdim[1], pixdim[2], qfac * pixdim[3]])
    qform[:3, 3] = (x, y, z)
    sform = np.eye(4)
    sform[:3, :] = np.asarray(rows, dtype=float).reshape(3, 4)
    return tuple(int(n) for n in dims), int(qcode), qform, int(scode), sform


def _corners(dims: tuple[int, ...]) -> np.ndarray:
    """The 8 corner voxels (homogeneous, 4×8) of the first three dimensions."""
    extents = [max(int(n), 1) - 1 for n in dims[1:4]]
    return np.array([[i, j, k, 1.0] for i, j, k in product(*[(0, e) for e in extents])]).T


def _itk_ras(image: sitk.Image, corners: np.ndarray) -> np.ndarray:
    """Where ITK put the corner voxels, in RAS (ITK works in LPS)."""
    direction = np.asarray(image.GetDirection(), dtype=float).reshape(3, 3)
    lps = np.asarray(image.GetOrigin(), dtype=float)[:, None] + \
        (direction * np.asarray(image.GetSpacing(), dtype=float)) @ corners[:3]
    return lps * np.array([-1.0, -1.0, 1.0])[:, None]


def placement_warning(path: Path, image: sitk.Image) -> Optional[str]:
    """What to tell the user when ``path``'s qform and sform place its voxels more than half a
    voxel apart (None: one transform only, they agree, or not NIfTI)."""
    if not is_nifti_name(path) or image.GetDimension() < 3:
        return None
    transforms = _transforms(read_nifti_header(path))
    if transforms is None:
        return None
    dims, qcode, qform, scode, sform = transforms
    if qcode <= 0 or scode <= 0:
        return None
    corners = _corners(dims)
    by_qform, by_sform = (qform @ corners)[:3], (sform @ corners)[:3]
    apart = float(np.max(np.linalg.norm(by_qform - by_sform, axis=0)))
    if not apart > 0.5 * min(image.GetSpacing()[:3]):  # also NaN in the header
        return None
    itk = _itk_ras(image, corners)
    used = "qform" if np.max(np.linalg.norm(itk - by_qform, axis=0)) <= np.max(np.linalg.norm(itk - by_sform, axis=0)) \
        else "sform"
    readers = ("as ITK and Slicer read it, while nibabel-based tools take the sform" if used == "qform"
               else "as ITK, Slicer and nibabel read it")
    other = "sform" if used == "qform" else "qform"
    return (f"the NIfTI header of {path.name} places the image twice: its qform (code {qcode}, "
            f"{XFORM_NAMES.get(qcode, 'unknown')}) and its sform (code {scode}, {XFORM_NAMES.get(scode, 'unknown')}) "
            f"are up to {apart:.1f} mm apart. The {used} is used, {readers}; the labels lie on its grid — if the "
            f"{other} is right, fix the header first")
