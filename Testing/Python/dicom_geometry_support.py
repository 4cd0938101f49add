"""DICOM series with irregular geometry, made from a copy of the shared series the way scanners and
transfers make them: a gantry-tilted CT (axial slices whose origins step along y with z), missing
slices, a repeated slice, a slice of another orientation. And where a slice's anatomy lies."""
from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np
import SimpleITK as sitk


def slice_files(folder: Path) -> list[Path]:
    """The series' files ordered along z (the shared series is axial)."""
    import pydicom

    return sorted(folder.iterdir(), key=lambda path: float(pydicom.dcmread(path, stop_before_pixels=True)
                                                         .ImagePositionPatient[2]))


def tilt_series(folder: Path, degrees: float) -> None:
    """Store the series as a CT with a tilted gantry stores it: the image plane stays axial (IOP
    unchanged) while each slice's origin moves along y by tan(tilt) per mm along z."""
    import pydicom

    files = slice_files(folder)
    bottom = float(pydicom.dcmread(files[0], stop_before_pixels=True).ImagePositionPatient[2])
    for path in files:
        dataset = pydicom.dcmread(path)
        x, y, z = (float(v) for v in dataset.ImagePositionPatient)
        dataset.ImagePositionPatient = [x, y + math.tan(math.radians(degrees)) * (z - bottom), z]
        dataset.GantryDetectorTilt = degrees
        dataset.save_as(path)


def remove_slices(folder: Path, first: int, count: int = 1) -> list[Path]:
    """Delete ``count`` neighbouring slices from slice ``first`` on (in z order); returns the kept files."""
    files = slice_files(folder)
    for path in files[first:first + count]:
        path.unlink()
    return files[:first] + files[first + count:]


def copy_slice(folder: Path, index: int, name: str) -> Path:
    """A second file of slice ``index`` (same header, same pixels), as a repeated transfer leaves."""
    target = folder / name
    shutil.copyfile(slice_files(folder)[index], target)
    return target


def move_slice(folder: Path, index: int, onto: int) -> None:
    """Give slice ``index`` the position of slice ``onto``: two different images at one place."""
    import pydicom

    files = slice_files(folder)
    position = pydicom.dcmread(files[onto], stop_before_pixels=True).ImagePositionPatient
    dataset = pydicom.dcmread(files[index])
    dataset.ImagePositionPatient = position
    dataset.save_as(files[index])


def rotate_slice(folder: Path, index: int, degrees: float) -> None:
    """Turn slice ``index``'s image plane about z (its ImageOrientationPatient)."""
    import pydicom

    path = slice_files(folder)[index]
    dataset = pydicom.dcmread(path)
    angle = math.radians(degrees)
    dataset.ImageOrientationPatient = [math.cos(angle), math.sin(angle), 0, -math.sin(angle), math.cos(angle), 0]
    dataset.save_as(path)


def physical_centroid(image: sitk.Image, floor: float) -> np.ndarray:
    """Centre (LPS mm) of a one-slice image's intensity above ``floor``: where its anatomy lies.
    Linear interpolation moves it exactly with the pixels, so a resampled slice keeps it."""
    array = sitk.GetArrayFromImage(image).astype(float).reshape(image.GetSize()[1], image.GetSize()[0])
    weights = array - floor
    rows, columns = np.indices(weights.shape)
    index = (float((weights * columns).sum() / weights.sum()), float((weights * rows).sum() / weights.sum()), 0.0)
    return np.asarray(image.TransformContinuousIndexToPhysicalPoint(index))
