"""The DICOM series of a folder: list them with their number and description, choose one by a
stated rule, and read it onto a regular grid (a gantry-tilted or gapped series is resampled, with a
warning). GDCM's own warnings (one per file it cannot parse) are kept off the terminal: our error
message says what matters."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import SimpleITK as sitk

from ..errors import InputImageError
from .dicom_geometry import MODALITY_TAG, analyse_stack, plane_from_tags
from .dicom_multiframe import read_dicom_file, stacked_files
from .dicom_regular_grid import regular_volume
from .library_logs import execute_quietly, quiet_itk

logger = logging.getLogger(__name__)

_SERIES_NUMBER_TAG = "0020|0011"
_SERIES_DESCRIPTION_TAG = "0008|103e"
_POSITION_TAG = "0020|0032"
_ORIENTATION_TAG = "0020|0037"
_PIXEL_SPACING_TAG = "0028|0030"
_GANTRY_TILT_TAG = "0018|1120"

#: Said in the warning when a folder holds several series, and in the README.
CHOICE_RULE = "the one with the most slices; among equal ones the lowest series number, then the lowest UID"


@dataclass(frozen=True)
class SeriesInfo:
    """One DICOM series of a folder: its files in slice order and what names it to a person."""

    uid: str
    files: tuple[str, ...]
    number: str = ""
    description: str = ""

    @property
    def label(self) -> str:
        """``series 3 "CT Body 3.0" (20 slices, UID 1.2.3)``; blank fields are said, not left empty."""
        number = f"series {self.number}" if self.number else "series without number"
        description = f' "{self.description}"' if self.description else " (no description)"
        uid = f"UID {self.uid}" if self.uid else "no UID"
        return f"{number}{description} ({len(self.files)} slices, {uid})"

    def sort_key(self) -> tuple:
        """Most slices first, then the lowest series number (blank last), then the UID."""
        try:
            number = (0, int(self.number))
        except ValueError:
            number = (1, 0)
        return (-len(self.files), number, self.uid)


def _header_tags(file: str) -> tuple[str, str]:
    reader = sitk.ImageFileReader()
    reader.SetFileName(file)
    reader.LoadPrivateTagsOff()
    try:
        with quiet_itk():
            reader.ReadImageInformation()
    except RuntimeError:
        return "", ""

    def tag(key: str) -> str:
        return reader.GetMetaData(key).strip() if reader.HasMetaDataKey(key) else ""

    return tag(_SERIES_NUMBER_TAG), tag(_SERIES_DESCRIPTION_TAG)


def list_series(folder: Path) -> list[SeriesInfo]:
    """Every DICOM series directly in ``folder`` (not below), in the order :data:`CHOICE_RULE` prefers."""
    reader = sitk.ImageSeriesReader()
    with quiet_itk():
        uids = reader.GetGDCMSeriesIDs(str(folder))
        series = []
        for uid in uids:
            files = tuple(reader.GetGDCMSeriesFileNames(str(folder), uid))
            if files:
                series.append(SeriesInfo(uid, files, *_header_tags(files[0])))
    return sorted(series, key=SeriesInfo.sort_key)


def choose_series(folder: Path) -> SeriesInfo:
    """The series to segment in ``folder`` (see :data:`CHOICE_RULE`); the others are named in a warning."""
    series = list_series(folder)
    if not series:
        raise InputImageError(f"{folder} is a folder but holds no DICOM series")
    chosen = series[0]
    if len(series) > 1:
        logger.warning("%s holds %d DICOM series; using %s — %s; ignoring %s", folder, len(series),
                       chosen.label, CHOICE_RULE, "; ".join(other.label for other in series[1:]))
    return chosen


def read_series_files(files: Sequence[str], where: str) -> sitk.Image:
    """Read one DICOM series from its files in slice order; the modality tag is kept on the image.
    Slices that do not form a regular grid are resampled onto one (:func:`_on_regular_grid`)."""
    missing = [name for name in files if not Path(name).is_file()]
    if missing:
        raise InputImageError(f"DICOM series in {where}: {len(missing)} of its {len(files)} files are gone "
                              f"(first: {missing[0]})")
    if len(files) == 1:  # a multi-frame file (the series reader would make it 4D) or a single slice
        return read_dicom_file(files[0])
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(list(files))
    reader.MetaDataDictionaryArrayUpdateOn()
    reader.LoadPrivateTagsOff()
    image = execute_quietly(reader, f"the DICOM series in {where}")
    if image.GetDimension() != 3 or image.GetSize()[2] != len(files):  # files holding several frames
        return stacked_files(files, where)
    image = _on_regular_grid(image, reader, files, where)
    if reader.HasMetaDataKey(0, MODALITY_TAG):
        image.SetMetaData(MODALITY_TAG, reader.GetMetaData(0, MODALITY_TAG).strip())
    return image


def _on_regular_grid(image: sitk.Image, reader: sitk.ImageSeriesReader, files: Sequence[str],
                     where: str) -> sitk.Image:
    """The reader stacks slices as if they were regular: check every slice's header and resample
    where they are not (gantry tilt, missing slices; see :mod:`.dicom_geometry`)."""
    if len(files) < 2:
        return image  # no per-file positions to compare
    tags = (_POSITION_TAG, _ORIENTATION_TAG, _PIXEL_SPACING_TAG)
    lacking = [Path(files[k]).name for k in range(len(files)) if not all(reader.HasMetaDataKey(k, t) for t in tags)]
    if lacking:
        logger.warning("DICOM series in %s: %d of its files (first: %s) have no ImagePositionPatient, "
                       "ImageOrientationPatient or PixelSpacing, so where the slices lie cannot be checked; "
                       "the volume is placed as the first file says, slices equally spaced", where,
                       len(lacking), lacking[0])
        return image

    def tag(k: int, key: str) -> str:
        return reader.GetMetaData(k, key) if reader.HasMetaDataKey(k, key) else ""

    size = image.GetSize()[:2]
    planes = [plane_from_tags(tag(k, _POSITION_TAG), tag(k, _ORIENTATION_TAG), tag(k, _PIXEL_SPACING_TAG), size,
                              files[k], tag(k, _GANTRY_TILT_TAG)) for k in range(len(files))]
    return regular_volume(image, planes, analyse_stack(planes, where), where)


def read_dicom_folder(folder: Path) -> sitk.Image:
    """The chosen series of ``folder`` (:func:`choose_series`)."""
    return read_series_files(choose_series(folder).files, str(folder))
