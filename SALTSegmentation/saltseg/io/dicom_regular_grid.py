"""A DICOM series whose slices do not form a regular grid (gantry tilt, missing slices, uneven
spacing; see :mod:`.dicom_geometry`) resampled onto one, and labels on such a grid carried back
onto the series' own slices (what DICOM SEG frames must hold).

The grid is what dcm2niix and Slicer's acquisition-geometry regularisation give: the slices'
orientation with the normal as third axis, the usual slice spacing, an extent covering every
slice; each grid slice interpolated linearly between its two neighbouring slices, each taken
where its own header places it.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Sequence

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

from ..errors import InputImageError
from .dicom_geometry import POSITION_TOLERANCE, SAME_POSITION_MM, SlicePlane, StackGeometry

logger = logging.getLogger(__name__)


def _without_duplicates(array: np.ndarray, planes: Sequence[SlicePlane], geometry: StackGeometry,
                        where: str) -> list[str]:
    """Slices at one position must be the same image (a file copied twice); else refuse."""
    notes = []
    for kept, repeated in geometry.duplicates:
        if not np.array_equal(array[kept], array[repeated]):
            raise InputImageError(
                f"the DICOM series in {where} is not one volume: {Path(planes[kept].name).name} and "
                f"{Path(planes[repeated].name).name} "
                "lie at the same position but hold different images (several phases, echoes or "
                "reconstructions in one series) — export each as a series of its own")
        notes.append(f"file {Path(planes[repeated].name).name} repeats the slice of {Path(planes[kept].name).name} "
                     "and was left out")
    return notes


class _PlacedSlices:
    """The series' slices on the grid's in-plane pixels (shifted by their own offsets), cached."""

    def __init__(self, array: np.ndarray, geometry: StackGeometry, shape: tuple[int, int],
                 shifts: np.ndarray, fill: float) -> None:
        self.array, self.geometry, self.shape, self.shifts, self.fill = array, geometry, shape, shifts, fill
        self.cache: dict[int, np.ndarray] = {}

    def __call__(self, position: int) -> np.ndarray:
        if position not in self.cache:
            source = self.array[self.geometry.order[position]].astype(np.float32)
            placed = np.full(self.shape, self.fill, dtype=np.float32)
            placed[:source.shape[0], :source.shape[1]] = source
            shift = self.shifts[position]
            if np.any(np.abs(shift) > 1e-6):
                placed = ndimage.shift(placed, shift, order=1, mode="constant", cval=self.fill)
            if len(self.cache) > 2:  # the grid walks forward: older slices are not needed again
                self.cache.pop(min(self.cache))
            self.cache[position] = placed
        return self.cache[position]


def regular_volume(image: sitk.Image, planes: Sequence[SlicePlane], geometry: StackGeometry,
                   where: str) -> sitk.Image:
    """``image`` (the series as SimpleITK stacked it, slice k = ``planes[k]``) where the slices
    form a regular grid; else the series resampled onto one, with a warning saying what was found
    and done."""
    if geometry.regular:
        return image
    array = sitk.GetArrayViewFromImage(image)
    notes = geometry.findings + _without_duplicates(array, planes, geometry, where)
    first = planes[geometry.order[0]]
    spacing_x, spacing_y = first.spacing  # the header's, not the reader's (GDCM may have guessed)
    offsets = geometry.offsets if geometry.sheared else np.zeros_like(geometry.offsets)
    low = offsets.min(axis=0)
    shifts = (offsets - low) / np.array([spacing_x, spacing_y])  # pixels along (columns, rows)
    extra = np.ceil(shifts.max(axis=0) - 1e-3).astype(int)
    rows, columns = array.shape[1] + int(extra[1]), array.shape[2] + int(extra[0])
    distances = geometry.distances
    count = int(round(distances[-1] / geometry.spacing)) + 1 if len(distances) > 1 else 1
    step = distances[-1] / (count - 1) if count > 1 else geometry.spacing
    tolerance = max(SAME_POSITION_MM, POSITION_TOLERANCE * step)
    placed = _PlacedSlices(array, geometry, (rows, columns), shifts[:, ::-1], float(array.min()))
    output = np.empty((count, rows, columns), dtype=array.dtype)
    for index in range(count):
        height = index * step
        after = int(np.searchsorted(distances, height - tolerance))
        if after >= len(distances) or abs(distances[after] - height) <= tolerance:
            value = placed(min(after, len(distances) - 1))
        else:  # between two slices of the series: linear along the normal
            weight = (height - distances[after - 1]) / (distances[after] - distances[after - 1])
            value = (1 - weight) * placed(after - 1) + weight * placed(after)
        if np.issubdtype(output.dtype, np.integer):
            limits = np.iinfo(output.dtype)
            value = np.clip(np.rint(value), limits.min, limits.max)
        output[index] = value
    regular = sitk.GetImageFromArray(output)
    regular.SetSpacing((spacing_x, spacing_y, float(step)))
    regular.SetOrigin(tuple(float(v) for v in first.position + low[0] * first.row + low[1] * first.column))
    regular.SetDirection(tuple(float(v) for v in np.column_stack([first.row, first.column, geometry.axis]).ravel()))
    added = [f"{int(n)} {what}" for n, what in zip(extra, ("columns", "rows")) if n]
    widened = f", {' and '.join(added)} wider to keep every slice whole" if added else ""
    if geometry.sheared or geometry.uneven:
        done = (f"resampled onto a regular grid of {count} slices {step:.4g} mm apart{widened}, interpolating "
                "linearly between neighbouring slices (as dcm2niix and Slicer's acquisition-geometry "
                "regularisation do); the segmentation lies on that grid")
    else:
        done = f"stacked in slice order, {count} slices {step:.4g} mm apart"
    logger.warning("DICOM series in %s: %s — %s", where, "; ".join(notes), done)
    return regular


def labels_on_planes(labelmap: sitk.Image, planes: Sequence[SlicePlane], where: str) -> np.ndarray:
    """The labels at the pixels of each plane (nearest voxel), shape (planes, rows, columns): the
    segmentation of a resampled series carried back onto its own slices. Refuses a plane that
    is not inside the labelmap (a segmentation of another series)."""
    labels = sitk.GetArrayViewFromImage(labelmap)
    size = np.array(labelmap.GetSize(), dtype=float)
    to_index = np.linalg.inv(np.asarray(labelmap.GetDirection(), dtype=float).reshape(3, 3)
                             * np.asarray(labelmap.GetSpacing(), dtype=float))
    result = []
    for number, plane in enumerate(planes):
        columns, rows = plane.size
        start = to_index @ (plane.position - np.asarray(labelmap.GetOrigin(), dtype=float))
        along_row = to_index @ (plane.row * plane.spacing[0])
        along_column = to_index @ (plane.column * plane.spacing[1])
        corners = [start + a * along_row + b * along_column for a in (0, columns - 1) for b in (0, rows - 1)]
        if any(np.any(corner < -0.5 - 1e-3) or np.any(corner > size - 0.5 + 1e-3) for corner in corners):
            raise InputImageError(
                f"the segmentation does not cover slice {number + 1} ({plane.name or 'unnamed'}) of the DICOM series "
                f"in {where}: it was not made from this series")
        corner = np.rint(start)
        if (np.allclose(start, corner, atol=1e-3) and np.allclose(along_row, (1, 0, 0), atol=1e-6)
                and np.allclose(along_column, (0, 1, 0), atol=1e-6)):  # on the grid: the slice as it is
            i0, j0, k0 = (int(v) for v in corner)
            result.append(np.array(labels[k0, j0:j0 + rows, i0:i0 + columns]))
            continue
        i, j = np.meshgrid(np.arange(columns), np.arange(rows))  # (rows, columns)
        index = start[:, None, None] + along_row[:, None, None] * i + along_column[:, None, None] * j
        nearest = np.clip(np.floor(index + 0.5).astype(np.int64), 0, (size - 1).astype(np.int64)[:, None, None])
        result.append(labels[nearest[2], nearest[1], nearest[0]])
    return np.stack(result) if result else np.zeros((0, 0, 0), dtype=labels.dtype)
