"""Reading CT images (NIfTI, NRRD, MHA, DICOM series) and checking that they can be segmented."""
from __future__ import annotations

import errno
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Union

import numpy as np
import SimpleITK as sitk

from ..errors import InputImageError
from .dicom_geometry import MODALITY_TAG
from .dicom_multiframe import placed_frames
from .dicom_series import read_dicom_folder
from .nifti_check import nifti_truncation, nifti_version
from .nifti_placement import placement_warning

logger = logging.getLogger(__name__)

#: Air is about -1000 HU; a CT volume practically always contains some.
_AIR_THRESHOLD_HU = -500.0
_MIN_SLICES = 2
#: Voxel spacings a CT can have (thin-slice in-plane ~0.2 mm, thick slices up to 10 mm); outside
#: this the header is wrong (cm or m for mm) and resampling would take hours and many GB.
PLAUSIBLE_SPACING_MM = (0.1, 20.0)
#: Longest plausible extent of a scan along one axis (a whole-body CT is under 2 m).
MAX_EXTENT_MM = 4000.0
#: Beyond this the values are not Hounsfield units (metal reaches ~30000 HU; int16 padding -32768).
_MAX_ABS_HU = 1e5


def read_dicom_series(folder: Path) -> sitk.Image:
    """The DICOM series of ``folder`` chosen by :data:`.dicom_series.CHOICE_RULE` (others are named
    in a warning)."""
    return read_dicom_folder(folder)


def _first_line(error: Exception) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    # ITK messages start with file/line noise; the last line is usually the useful description.
    return lines[-1] if lines else type(error).__name__


def missing_input_message(path: Path) -> str:
    """Why ``path``, which ``exists()`` says is not there, cannot be read: a symbolic link that
    loops or leads nowhere is named as such (it is there, as a link)."""
    if not path.is_symlink():
        return f"input {path} does not exist"
    try:
        os.stat(path)
    except OSError as error:
        if error.errno == errno.ELOOP:
            return f"input {path} is a symbolic link loop ({error.strerror}); point it at the CT file"
        if error.errno != errno.ENOENT:
            return f"input {path} is a symbolic link that cannot be followed: {error.strerror}"
    return f"input {path} is a symbolic link to {os.readlink(path)}, which does not exist"


def read_image(path: Union[str, Path]) -> sitk.Image:
    """Read a 3D image file or a DICOM series folder; errors say what is wrong with it."""
    path = Path(path)
    if not path.exists():
        raise InputImageError(missing_input_message(path))
    if path.is_dir():
        return read_dicom_series(path)
    if path.stat().st_size == 0:
        raise InputImageError(f"input {path} is an empty file")
    truncation = nifti_truncation(path)
    if truncation:
        raise InputImageError(f"{path} is truncated or corrupt: {truncation} (incomplete download or copy?)")
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    try:
        image = reader.Execute()
    except RuntimeError as error:
        if nifti_version(path) == 2:
            raise InputImageError(f"{path} is a NIfTI-2 file, which ITK (this tool and Slicer) cannot read; save "
                                  "it as NIfTI-1 (.nii.gz), NRRD or MHA") from error
        raise InputImageError(
            f"cannot read {path}: not a readable NIfTI/NRRD/MHA/DICOM image or the file is "
            f"truncated ({_first_line(error)})"
        ) from error
    placement = placement_warning(path, image)
    if placement:
        logger.warning("%s", placement)
    return placed_frames(reader, image, str(path))  # a multi-frame DICOM file: where its frames say


@dataclass
class ImageCheck:
    """What :func:`check_ct_image` found: warnings that do not stop the run."""

    warnings: list[str] = field(default_factory=list)
    intensity_range: tuple[float, float] = (0.0, 0.0)


def check_plausible_geometry(size, spacing) -> None:
    """Refuse voxel spacings and extents no CT has, before any work, naming what is wrong."""
    text = " × ".join(f"{s:g}" for s in spacing)
    low, high = PLAUSIBLE_SPACING_MM
    if max(spacing) > high:
        raise InputImageError(
            f"the voxel spacing {text} mm is not plausible for a CT (expected {low:g}–{high:g} mm per "
            "axis); the image header is probably wrong (spacing in cm?) — fix the spacing first"
        )
    if min(spacing) < low:
        raise InputImageError(
            f"the voxel spacing {text} mm is not plausible for a CT (expected {low:g}–{high:g} mm per "
            "axis); the image header is probably wrong (spacing in m?) — fix the spacing first"
        )
    extent = [n * s for n, s in zip(size, spacing)]
    if max(extent) > MAX_EXTENT_MM:
        raise InputImageError(
            f"the image is {' × '.join(f'{e:.0f}' for e in extent)} mm ({'×'.join(map(str, size))} voxels "
            f"of {text} mm), longer than any body (> {MAX_EXTENT_MM / 1000:g} m); check its spacing"
        )


def check_ct_image(image: sitk.Image) -> ImageCheck:
    """Raise :class:`InputImageError` for images that cannot be segmented; warn for odd ones."""
    size = image.GetSize()
    if image.GetDimension() != 3:
        raise InputImageError(
            f"the image is {image.GetDimension()}D (size {'×'.join(map(str, size))}); SALT segments "
            "3D CT volumes" + (" — select one time point or channel first" if image.GetDimension() == 4 else "")
        )
    if image.GetNumberOfComponentsPerPixel() != 1:
        raise InputImageError(
            f"the image has {image.GetNumberOfComponentsPerPixel()} components per voxel (colour or "
            "vector image); SALT needs a scalar CT volume"
        )
    if min(size) == 0:
        raise InputImageError(f"the image is empty (size {'×'.join(map(str, size))})")
    if sorted(size)[0] < _MIN_SLICES:
        raise InputImageError(
            f"the image is a single slice (size {'×'.join(map(str, size))}); SALT segments 3D volumes"
        )
    spacing = image.GetSpacing()
    if any(not np.isfinite(s) or s <= 0 for s in spacing):
        raise InputImageError(f"the image has an invalid voxel spacing {spacing}")
    check_plausible_geometry(size, spacing)
    direction = np.asarray(image.GetDirection(), dtype=float).reshape(3, 3)
    if not np.allclose(direction @ direction.T, np.eye(3), atol=1e-3):
        raise InputImageError("the image's direction matrix is not orthonormal (sheared geometry)")

    array = sitk.GetArrayViewFromImage(image)
    check = ImageCheck()
    if np.issubdtype(array.dtype, np.floating):
        bad = int(np.count_nonzero(~np.isfinite(array)))
        if bad:
            raise InputImageError(
                f"the image contains {bad} NaN or infinite voxels ({100.0 * bad / array.size:.2g}% of "
                "the volume); fix or mask them before segmenting"
            )
    low, high = float(array.min()), float(array.max())
    check.intensity_range = (low, high)
    if low == high:
        raise InputImageError(f"the image is empty: every voxel has the value {low:g}")
    modality = image.GetMetaData(MODALITY_TAG).strip() if image.HasMetaDataKey(MODALITY_TAG) else ""
    if modality and modality.upper() != "CT":
        check.warnings.append(f"the DICOM modality is {modality}, not CT; SALT is trained on CT only")
    if max(abs(low), abs(high)) > _MAX_ABS_HU:
        check.warnings.append(
            f"intensities range from {low:g} to {high:g}, far outside Hounsfield units (air -1000, "
            "bone up to ~3000): this does not look like a CT in HU (rescaled, or wrong rescale "
            "slope/intercept?); the result will be unreliable"
        )
    elif np.percentile(array[:: max(1, array.shape[0] // 64)], 0.5) > _AIR_THRESHOLD_HU:
        check.warnings.append(
            f"intensities range from {low:g} to {high:g} with no air near -1000 HU: this does not "
            "look like a CT in Hounsfield units (MR, or rescaled?); the result will be unreliable"
        )
    for warning in check.warnings:
        logger.warning(warning)
    return check
