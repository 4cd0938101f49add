"""DICOM series in a folder for the batch: find each one (one case per series) and read one by its
files. Listing and reading are :mod:`saltseg.io.dicom_series` (shared with ``saltseg segment``)."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import SimpleITK as sitk

from ..io.dicom_series import list_series, read_series_files


def find_series(folder: Path) -> dict[str, tuple[str, ...]]:
    """Series UID → its files in slice order, for the series directly in ``folder`` (not below)."""
    return {series.uid: series.files for series in list_series(folder)}


def read_series(files: Sequence[str], where: str) -> sitk.Image:
    """Read one DICOM series from its files (in slice order, as :func:`find_series` gives them)."""
    return read_series_files(files, where)
