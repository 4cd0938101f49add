"""Where the slices of a DICOM series really lie, from every file's ImagePositionPatient (IPP) and
ImageOrientationPatient (IOP).

A reader that stacks slices (SimpleITK's ImageSeriesReader) assumes a rectilinear grid: origin
at the first slice, the slice normal as third axis, one spacing. Two kinds of series break that
without any error from the reader: a gantry-tilted CT, whose slice origins step along the table
while the slices stay in the axial plane (the stack is sheared), and a series with missing slices
or uneven spacing. :func:`analyse_stack` finds both (and what cannot be one volume at all:
orientations that change, slices at one position); :mod:`.dicom_regular_grid` resamples.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from ..errors import InputImageError

#: The modality, as SimpleITK names the tag (the CT check reads it).
MODALITY_TAG = "0008|0060"
#: Two slices closer than this along the normal (mm) are at the same position (Slicer's
#: DICOMUtils spacing epsilon).
SAME_POSITION_MM = 0.01
#: A slice is where the regular grid puts it when within this share of the spacing (or
#: :data:`SAME_POSITION_MM`, whichever is larger): rounding of IPP in the file stays below it.
POSITION_TOLERANCE = 0.01
#: The widest gap between slices filled by interpolation (two slice spacings where that is more):
#: thick-slice CTs (5–10 mm), which SALT segments, are sampled no coarser. A larger hole is an
#: incomplete transfer or two scan ranges in one series: labels across it would be made up, so it
#: is refused.
MAX_GAP_MM = 10.0


@dataclass(frozen=True)
class SlicePlane:
    """One slice as its DICOM header places it (LPS, mm). ``row`` is the direction of increasing
    column index (IOP's first triplet); ``spacing`` is (between columns, between rows)."""

    position: np.ndarray
    row: np.ndarray
    column: np.ndarray
    spacing: tuple[float, float]
    size: tuple[int, int]  # (columns, rows)
    name: str = ""
    gantry_tilt: Optional[float] = None

    @property
    def normal(self) -> np.ndarray:
        normal = np.cross(self.row, self.column)
        return normal / np.linalg.norm(normal)


def _numbers(text: str, count: int, what: str, name: str) -> np.ndarray:
    try:
        values = [float(part) for part in str(text).strip().split("\\")]
    except ValueError:
        values = []
    if len(values) != count or not all(math.isfinite(v) for v in values):
        raise InputImageError(f"the DICOM file {name} has an unreadable {what} ({str(text).strip()!r})")
    return np.asarray(values, dtype=float)


def plane_from_tags(position: str, orientation: str, pixel_spacing: str, size: tuple[int, int],
                    name: str = "", gantry_tilt: str = "") -> SlicePlane:
    """A plane from the header strings (backslash-separated, as SimpleITK gives them)."""
    iop = _numbers(orientation, 6, "ImageOrientationPatient", name)
    row, column = iop[:3], iop[3:]
    if abs(np.linalg.norm(row) - 1) > 1e-3 or abs(np.linalg.norm(column) - 1) > 1e-3 or abs(row @ column) > 1e-3:
        raise InputImageError(f"the DICOM file {name} has an ImageOrientationPatient whose axes are not "
                              f"perpendicular unit vectors ({str(orientation).strip()})")
    row_spacing, column_spacing = _numbers(pixel_spacing, 2, "PixelSpacing", name)  # DICOM: rows first
    tilt = str(gantry_tilt).strip()
    try:
        tilt_value = float(tilt) if tilt else None
    except ValueError:
        tilt_value = None
    return SlicePlane(_numbers(position, 3, "ImagePositionPatient", name), row, column,
                      (float(column_spacing), float(row_spacing)), (int(size[0]), int(size[1])), name, tilt_value)


def frame_count(number_of_frames: str) -> int:
    """``NumberOfFrames`` as a header gives it (empty or unreadable: 1)."""
    try:
        return int(number_of_frames.strip() or 1)
    except ValueError:
        return 1


def tag_text(value) -> str:
    """A pydicom value as SimpleITK gives the tag: multiple values joined by backslashes."""
    return "\\".join(str(v) for v in value) if not isinstance(value, (str, bytes)) else str(value)


def plane_from_dataset(dataset, name: str = "") -> SlicePlane:
    """A plane from a pydicom dataset (duck-typed: no pydicom import in the engine's core)."""
    def text(attribute: str) -> str:
        value = dataset.get(attribute, None)
        if value is None or value == "":
            raise InputImageError(f"the DICOM file {name} has no {attribute}: where its pixels lie is unknown")
        return tag_text(value)

    frames = frame_count(str(dataset.get("NumberOfFrames", "")))
    if frames > 1:
        raise InputImageError(f"the DICOM file {name} holds {frames} frames: a DICOM SEG or RT Structure Set "
                              "made from it would need per-frame references, which are not written — choose "
                              "--format seg.nrrd or nii.gz")
    size = (int(dataset.get("Columns", 0) or 0), int(dataset.get("Rows", 0) or 0))
    tilt = dataset.get("GantryDetectorTilt", None)
    return plane_from_tags(text("ImagePositionPatient"), text("ImageOrientationPatient"), text("PixelSpacing"),
                           size, name, "" if tilt is None else str(tilt))


@dataclass
class StackGeometry:
    """The slices of a series ordered along their normal, and how far that is from a regular grid.

    ``order`` indexes the planes given to :func:`analyse_stack` (duplicates left out), from the
    first slice along ``axis``; ``distances`` are along ``axis`` from that slice, ``offsets`` the
    in-plane shift of each slice's origin (mm along the row and column directions)."""

    order: list[int]
    axis: np.ndarray
    distances: np.ndarray
    offsets: np.ndarray
    spacing: float
    duplicates: list[tuple[int, int]] = field(default_factory=list)  # (kept, same position)
    tilt_degrees: float = 0.0
    sheared: bool = False
    uneven: bool = False
    reordered: bool = False
    findings: list[str] = field(default_factory=list)

    @property
    def regular(self) -> bool:
        """True when the slices, as given, form a rectilinear grid with one spacing."""
        return not (self.sheared or self.uneven or self.reordered or self.duplicates)


def _base(plane: SlicePlane) -> str:
    return Path(plane.name).name if plane.name else "?"


def _degrees(a: np.ndarray, b: np.ndarray) -> float:
    cosine = float(a @ b) / float(np.linalg.norm(a) * np.linalg.norm(b))
    return math.degrees(math.acos(max(-1.0, min(1.0, cosine))))


def _check_same_orientation(planes: Sequence[SlicePlane], where: str) -> None:
    """Refuse a series whose slices are not parallel: more than one volume (or a localiser)."""
    first = planes[0]
    width, height = first.size[0] * first.spacing[0], first.size[1] * first.spacing[1]
    for plane in planes[1:]:
        # How far the far corner of the slice moves between the two orientations: below half a
        # pixel the difference is rounding in the header.
        moved = np.linalg.norm(plane.row - first.row) * width + np.linalg.norm(plane.column - first.column) * height
        if moved > 0.5 * min(first.spacing):
            angle = max(_degrees(plane.row, first.row), _degrees(plane.column, first.column))
            raise InputImageError(
                f"the DICOM series in {where} is not one volume: slice {_base(plane)} is oriented differently "
                f"from slice {_base(first)} (ImageOrientationPatient {angle:.1f}° apart); a "
                "localiser or several stacks in one series — export the axial stack as a series of its own")
        if abs(plane.spacing[0] - first.spacing[0]) > 1e-3 or abs(plane.spacing[1] - first.spacing[1]) > 1e-3:
            raise InputImageError(
                f"the DICOM series in {where} is not one volume: slice {_base(plane)} has a pixel spacing of "
                f"{plane.spacing[1]:g}×{plane.spacing[0]:g} mm, slice {_base(first)} "
                f"{first.spacing[1]:g}×{first.spacing[0]:g} mm — export each reconstruction as a series of its own")


def _gap_text(geometry: StackGeometry, planes: Sequence[SlicePlane], step: int, along: np.ndarray) -> str:
    before, after = planes[geometry.order[step]], planes[geometry.order[step + 1]]
    gap = geometry.distances[step + 1] - geometry.distances[step]
    positions = f"{before.position @ along:g} and {after.position @ along:g} mm along the slice normal"
    missing = int(round(gap / geometry.spacing)) - 1
    if missing >= 1 and abs(gap - (missing + 1) * geometry.spacing) <= 0.1 * geometry.spacing:
        what = f"{missing} slice{'s are' if missing > 1 else ' is'} missing"
    else:
        what = "the spacing changes"
    return (f"{what} between {positions} (files {_base(before)} and {_base(after)}: {gap:g} mm apart, "
            f"{geometry.spacing:g} mm elsewhere)")


def analyse_stack(planes: Sequence[SlicePlane], where: str) -> StackGeometry:
    """Order the slices along their normal and describe what keeps them from a regular grid.

    Raises :class:`InputImageError` for what is not one volume (orientation or pixel spacing
    changes, slices at one position in different places) and for gaps wider than
    :data:`MAX_GAP_MM` (and two regular spacings); finds, in ``findings``, a gantry tilt (shear),
    missing slices and uneven spacing, which :mod:`.dicom_regular_grid` can resample."""
    if not planes:
        raise InputImageError(f"the DICOM series in {where} has no slices")
    _check_same_orientation(planes, where)
    normal = planes[0].normal
    along = np.array([float(p.position @ normal) for p in planes])
    # Keep the direction the files run in (SimpleITK's reader does): first to last slice.
    sign = 1.0 if len(planes) < 2 or along[-1] >= along[0] else -1.0
    axis = sign * normal
    order = sorted(range(len(planes)), key=lambda i: (sign * along[i], i))
    reordered = order != list(range(len(planes)))
    kept: list[int] = [order[0]]
    duplicates: list[tuple[int, int]] = []
    for index in order[1:]:
        if abs(along[index] - along[kept[-1]]) < SAME_POSITION_MM:
            duplicates.append((kept[-1], index))
        else:
            kept.append(index)
    origin = planes[kept[0]].position
    distances = np.array([(planes[i].position - origin) @ axis for i in kept])
    offsets = np.array([[(planes[i].position - origin) @ planes[0].row,
                         (planes[i].position - origin) @ planes[0].column] for i in kept])
    steps = np.diff(distances)
    spacing = float(np.median(steps)) if len(steps) else 1.0
    geometry = StackGeometry(kept, axis, distances, offsets, spacing, duplicates, reordered=reordered)
    for first, second in duplicates:
        shift = planes[second].position - planes[first].position
        if np.linalg.norm(shift) >= SAME_POSITION_MM:
            raise InputImageError(
                f"the DICOM series in {where} is not one volume: slices {_base(planes[first])} and "
                f"{_base(planes[second])} lie at the same height but {np.linalg.norm(shift):.3g} mm apart "
                "in-plane — export each stack as a series of its own")
    if len(kept) < 2:
        return geometry
    if reordered:
        geometry.findings.append("the slices were stored out of order")
    along_tolerance = max(SAME_POSITION_MM, POSITION_TOLERANCE * spacing)
    plane_tolerance = max(SAME_POSITION_MM, POSITION_TOLERANCE * min(planes[0].spacing))
    widest = int(np.argmax(steps))
    if steps[widest] > max(MAX_GAP_MM, 2 * spacing) + along_tolerance:
        raise InputImageError(
            f"the DICOM series in {where} has a hole: {_gap_text(geometry, planes, widest, normal)}; more than "
            f"{MAX_GAP_MM:g} mm cannot be filled by interpolation without making up anatomy — export the "
            "complete series (or each scan range as a series of its own)")
    regular = distances[0] + np.arange(len(kept)) * (distances[-1] / (len(kept) - 1))
    if np.max(np.abs(distances - regular)) > along_tolerance:
        geometry.uneven = True
        uneven = [step for step in range(len(steps)) if abs(steps[step] - spacing) > along_tolerance]
        texts = [_gap_text(geometry, planes, step, normal) for step in uneven[:3]]
        more = f"; and {len(uneven) - 3} more" if len(uneven) > 3 else ""
        drift = f"the slice spacing drifts from {steps.min():g} to {steps.max():g} mm"
        geometry.findings.append("; ".join(texts) + more if texts else drift)
    shift = float(np.max(np.linalg.norm(offsets, axis=1)))
    if shift > plane_tolerance:
        geometry.sheared = True
        sideways = np.linalg.norm(offsets[-1] - offsets[0])
        geometry.tilt_degrees = math.degrees(math.atan2(sideways, distances[-1] - distances[0]))
        tags = {round(p.gantry_tilt, 2) for p in planes if p.gantry_tilt is not None}
        recorded = (f"GantryDetectorTilt {'/'.join(f'{t:g}' for t in sorted(tags))}°" if tags
                    else "no GantryDetectorTilt recorded")
        geometry.findings.append(
            f"the slices are sheared by a gantry tilt of {geometry.tilt_degrees:.1f}° ({recorded}): their origins "
            f"lie up to {shift:.1f} mm off the normal through the first slice")
    return geometry
