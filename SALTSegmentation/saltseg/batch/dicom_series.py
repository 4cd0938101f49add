"""DICOM series in a folder: find each one (one case per series) and read one by its files."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Sequence

import SimpleITK as sitk

from ..errors import InputImageError

logger = logging.getLogger(__name__)

_MODALITY_TAG = "0008|0060"


def find_series(folder: Path) -> dict[str, tuple[str, ...]]:
    """Series UID → its files in slice order, for the series directly in ``folder`` (not below)."""
    reader = sitk.ImageSeriesReader()
    series = {}
    for uid in reader.GetGDCMSeriesIDs(str(folder)):
        files = tuple(reader.GetGDCMSeriesFileNames(str(folder), uid))
        if files:
            series[uid] = files
    return series


def read_series(files: Sequence[str], where: str) -> sitk.Image:
    """Read one DICOM series from its files (in slice order, as :func:`find_series` gives them)."""
    missing = [name for name in files if not Path(name).is_file()]
    if missing:
        raise InputImageError(f"DICOM series in {where}: {len(missing)} of its {len(files)} files are gone "
                              f"(first: {missing[0]})")
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(list(files))
    reader.MetaDataDictionaryArrayUpdateOn()
    reader.LoadPrivateTagsOff()
    try:
        image = reader.Execute()
    except RuntimeError as error:
        lines = [line.strip() for line in str(error).splitlines() if line.strip()]
        raise InputImageError(f"cannot read the DICOM series in {where}: "
                              f"{lines[-1] if lines else 'unreadable'}") from error
    if reader.HasMetaDataKey(0, _MODALITY_TAG):
        image.SetMetaData(_MODALITY_TAG, reader.GetMetaData(0, _MODALITY_TAG).strip())
    return image
