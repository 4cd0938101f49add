"""Where the frames of a multi-frame DICOM file lie (Enhanced CT, Legacy Converted Enhanced CT),
from its functional groups, and the frames on a grid that matches them.

GDCM (SimpleITK's reader) stacks the frames in file order and derives one grid for them without
checking it: on the shared CT converted to a Legacy Converted Enhanced CT file, frames out of order
or one frame missing came back as a 1×1×1 mm grid (the 0.98 mm pixel spacing lost too) with no
error. So each frame's plane is read here — ``PlanePositionSequence``, ``PlaneOrientationSequence``
and ``PixelMeasuresSequence`` of the frame, else of the shared functional groups — and the frames go
through the checks a series of files gets (:mod:`.dicom_geometry`): reordered, gapped or tilted
frames are resampled onto a regular grid with a warning, several stacks in one file are refused,
and a regular stack takes its grid from the frames, never from GDCM's guess.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import SimpleITK as sitk

from ..errors import InputImageError
from .dicom_geometry import (MODALITY_TAG, SlicePlane, StackGeometry, analyse_stack, frame_count, plane_from_dataset,
                             plane_from_tags, tag_text)
from .dicom_regular_grid import regular_volume
from .library_logs import execute_quietly

logger = logging.getLogger(__name__)

NUMBER_OF_FRAMES_TAG = "0028|0008"


def _from_groups(frame, shared, sequence: str, attribute: str):
    """``attribute`` of the frame's ``sequence`` item, else of the shared groups' (None: in neither)."""
    for groups in (frame, shared):
        items = groups.get(sequence) if groups is not None else None
        if items:
            value = items[0].get(attribute)
            if value is not None and value != "":
                return value
    return None


def frame_planes(path: str, size: tuple[int, int]) -> Optional[list[SlicePlane]]:
    """Each frame's plane, in file order; None when a frame's position, orientation or pixel
    spacing is not recorded (then where the frames lie cannot be known). Refuses frames whose
    pixel values are rescaled differently (GDCM applies one slope and intercept to all)."""
    return _from_header(path, lambda dataset: _planes_of(dataset, path, size))


def _single_plane(path: str) -> list[SlicePlane]:
    """The plane of a single-frame file (of a series whose other files hold several frames)."""
    return _from_header(path, lambda dataset: [plane_from_dataset(dataset, path)])


def _from_header(path: str, read):
    """``read(dataset)`` of the file's header, with the file's name in every error."""
    try:
        import pydicom
    except ImportError as error:  # a dependency of saltseg; Slicer bundles it
        raise InputImageError(f"{path} is a multi-frame DICOM file: placing its frames needs pydicom "
                              "(pip install pydicom)") from error
    try:
        return read(pydicom.dcmread(path, stop_before_pixels=True))
    except (OSError, pydicom.errors.InvalidDicomError) as error:
        raise InputImageError(f"cannot read the DICOM file {path}: {error}") from error
    except (ValueError, TypeError, AttributeError, IndexError, KeyError) as error:  # malformed groups
        raise InputImageError(f"the DICOM file {path} has frame headers (functional groups) that cannot be "
                              f"read: {error}") from error


def _planes_of(dataset, path: str, size: tuple[int, int]) -> Optional[list[SlicePlane]]:
    shared_items = dataset.get("SharedFunctionalGroupsSequence")
    shared = shared_items[0] if shared_items else None
    frames = list(dataset.get("PerFrameFunctionalGroupsSequence") or [])
    count = frame_count(str(dataset.get("NumberOfFrames", "")))
    if len(frames) != count:
        logger.warning("the DICOM file %s has %d frames but %d per-frame functional groups: where its frames "
                       "lie cannot be checked", path, count, len(frames))
        return None
    name = Path(path).name
    planes, rescales = [], set()
    for number, frame in enumerate(frames, start=1):
        position = _from_groups(frame, shared, "PlanePositionSequence", "ImagePositionPatient")
        orientation = _from_groups(frame, shared, "PlaneOrientationSequence", "ImageOrientationPatient")
        spacing = _from_groups(frame, shared, "PixelMeasuresSequence", "PixelSpacing")
        if position is None or orientation is None or spacing is None:
            return None
        planes.append(plane_from_tags(tag_text(position), tag_text(orientation), tag_text(spacing), size,
                                      f"{name} frame {number}"))
        rescales.add(tuple(float(_from_groups(frame, shared, "PixelValueTransformationSequence", key) or default)
                           for key, default in (("RescaleSlope", 1.0), ("RescaleIntercept", 0.0))))
    if len(rescales) > 1:
        shown = ", ".join(f"slope {s:g} intercept {i:g}" for s, i in sorted(rescales)[:3])
        raise InputImageError(f"the frames of the DICOM file {path} rescale their pixel values differently "
                              f"({shown}); the reader applies one rescale to every frame — export the CT as "
                              "a series of single-frame files")
    return planes


def _with_frame_grid(image: sitk.Image, planes: list[SlicePlane], geometry: StackGeometry) -> sitk.Image:
    """``image`` (frames in file order, already a regular stack) on the grid its frames state."""
    first = planes[0]
    image.SetOrigin(tuple(float(v) for v in first.position))
    image.SetSpacing((float(first.spacing[0]), float(first.spacing[1]), float(geometry.spacing)))
    image.SetDirection(tuple(float(v) for v in np.column_stack([first.row, first.column, geometry.axis]).ravel()))
    return image


def _file_reader(path: str) -> sitk.ImageFileReader:
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    reader.LoadPrivateTagsOff()
    return reader


def _several_frames(reader: sitk.ImageFileReader) -> bool:
    """Whether the file ``reader`` read says it holds more than one frame."""
    return reader.HasMetaDataKey(NUMBER_OF_FRAMES_TAG) and frame_count(reader.GetMetaData(NUMBER_OF_FRAMES_TAG)) > 1


def read_dicom_file(path: str) -> sitk.Image:
    """One DICOM file; a multi-frame one with its frames where they lie (:func:`placed_frames`)."""
    reader = _file_reader(path)
    return placed_frames(reader, execute_quietly(reader, f"the DICOM file {path}"), str(path))


def stacked_files(files: Sequence[str], where: str) -> sitk.Image:
    """One series whose files hold several frames each (a multi-frame CT split over files, as
    scanners and archives store long scans): every file's frames placed where its functional
    groups say, all files' frames checked and stacked as one series' slices are. GDCM's series
    reader made such a series 4D, each file a time point."""
    arrays: list[np.ndarray] = []
    planes: list[SlicePlane] = []
    modality = ""
    for path in files:
        reader = _file_reader(path)
        image = execute_quietly(reader, f"the DICOM file {path}")
        if image.GetDimension() == 2:
            image = sitk.JoinSeries(image)
        file_planes = frame_planes(path, image.GetSize()[:2]) if _several_frames(reader) else _single_plane(path)
        if file_planes is None:
            raise InputImageError(f"the DICOM series in {where} is split over {len(files)} multi-frame files, and "
                                  f"{Path(path).name} does not record where its frames lie (PlanePosition, "
                                  "PlaneOrientation, PixelMeasures): its frames cannot be stacked with the others'")
        read = image.GetSize()[2] if image.GetDimension() == 3 else 0
        if len(file_planes) != read:
            raise InputImageError(f"the DICOM file {path} declares {len(file_planes)} frames but {read} were "
                                  "read as one stack: the file is truncated or not one volume")
        if arrays and image.GetSize()[:2] != (arrays[0].shape[2], arrays[0].shape[1]):
            raise InputImageError(f"the DICOM series in {where} is not one volume: {Path(path).name} holds "
                                  f"{image.GetSize()[0]}×{image.GetSize()[1]} frames, {Path(files[0]).name} "
                                  f"{arrays[0].shape[2]}×{arrays[0].shape[1]}")
        if not modality and reader.HasMetaDataKey(MODALITY_TAG):
            modality = reader.GetMetaData(MODALITY_TAG).strip()
        arrays.append(sitk.GetArrayFromImage(image))  # each file's own rescale already applied
        planes.extend(file_planes)
    stack = sitk.GetImageFromArray(np.concatenate(arrays))
    if modality:
        stack.SetMetaData(MODALITY_TAG, modality)
    return _on_their_grid(stack, planes, where)


def placed_frames(reader: sitk.ImageFileReader, image: sitk.Image, path: str) -> sitk.Image:
    """``image``, read by ``reader`` from ``path``: when the file has several frames, on the grid its
    frames state (:func:`on_frame_grid`); else as read."""
    if _several_frames(reader):
        return on_frame_grid(image, path)
    return image


def on_frame_grid(image: sitk.Image, path: str) -> sitk.Image:
    """The frames of the multi-frame file ``path`` (``image`` as GDCM read it, frame k = slice k)
    placed where their functional groups say (see the module's description)."""
    where = f"{path} (multi-frame)"
    if image.GetDimension() != 3:
        return image  # not a volume: check_ct_image says so
    planes = frame_planes(path, image.GetSize()[:2])
    if planes is None:
        logger.warning("DICOM file %s: its frames do not all record PlanePosition, PlaneOrientation and "
                       "PixelMeasures, so where they lie cannot be checked; the volume is placed as the "
                       "reader guessed (check its spacing)", where)
        return image
    if len(planes) != image.GetSize()[2]:
        raise InputImageError(f"the DICOM file {path} declares {len(planes)} frames but {image.GetSize()[2]} "
                              "were read: the file is truncated or not one volume")
    return _on_their_grid(image, planes, where)


def _on_their_grid(image: sitk.Image, planes: list[SlicePlane], where: str) -> sitk.Image:
    """``image`` (slice k = ``planes[k]``) on the grid its planes state, resampled if they are irregular."""
    geometry = analyse_stack(planes, where)
    if geometry.regular:
        return _with_frame_grid(image, planes, geometry)
    regular = regular_volume(image, planes, geometry, where)
    if image.HasMetaDataKey(MODALITY_TAG):  # the CT check reads it
        regular.SetMetaData(MODALITY_TAG, image.GetMetaData(MODALITY_TAG))
    return regular
