"""DICOM RT Structure Set output (radiotherapy planning systems read these, not DICOM SEG).

Built with ``rt-utils`` (what TotalSegmentator uses for the same purpose; optional extra
``saltseg[rtstruct]``): one ROI per structure found, named readably, coloured from the tree, its
tree path as the ROI description, contours on the slices of the source DICOM series, which the
structure set references. The labelmap must lie on the series' own grid (the pipeline's output
does).
"""
from __future__ import annotations

import contextlib
import io
import logging
import tempfile
from pathlib import Path
from typing import Sequence, Union

import numpy as np
import SimpleITK as sitk


from ..atomic import atomic_path
from ..errors import InputImageError, OutputError
from ..tree.label_table import label_table
from ..tree.labeltree import LabelTree
from .dicom_references import read_referenced
from .dicom_geometry import analyse_stack, plane_from_dataset
from .dicom_series import choose_series
from .library_logs import library_logs_at_debug

logger = logging.getLogger(__name__)

RTSTRUCT_SUFFIX = ".rtstruct.dcm"
INSTALL_HINT = "RT Structure Set output needs rt-utils: pip install 'saltseg[rtstruct]'"
#: DICOM's ROI Name is a long string (LO): at most 64 characters.
MAX_ROI_NAME = 64


def require_rt_utils():
    try:
        from rt_utils import RTStructBuilder
    except ImportError as error:
        raise OutputError(INSTALL_HINT) from error
    return RTStructBuilder


def largest_series_files(folder: Union[str, Path]) -> tuple[str, ...]:
    """The files of the DICOM series in ``folder`` that ``read_image`` segments (same choice rule)."""
    return choose_series(Path(folder)).files


def _referencable(name: str, stop_before_pixels: bool):
    """The instance ``name`` with the identifiers a structure set references. Empty SOP Class/
    Instance UIDs are taken from the file meta header (which names the same instance); a series
    without Study or Series Instance UIDs (over-zealous anonymisation) cannot be referenced."""
    dataset, missing = read_referenced(name, stop_before_pixels)
    if missing:
        raise InputImageError(
            f"the DICOM series of {name} has no {', '.join(missing)} (removed by anonymisation?): an RT "
            "Structure Set cannot reference it; write .seg.nrrd or a labelmap for this series")
    return dataset


def check_series_references(files: Sequence[str]) -> None:
    """Refuse, before any computation, a series a structure set could not reference, or not
    place: rt-utils puts slice k's contours at the first slice's origin plus k mean spacings along
    the normal, which misplaces those of a gantry-tilted or gapped series."""
    headers = [_referencable(name, stop_before_pixels=True) for name in files]
    where = str(Path(files[0]).parent) if files else "the series"
    geometry = analyse_stack([plane_from_dataset(header, name) for header, name in zip(headers, files)], where)
    if geometry.sheared or geometry.uneven:
        raise OutputError(
            f"an RT Structure Set cannot be written for the DICOM series in {where}: {'; '.join(geometry.findings)}; "
            "rt-utils, which writes it, would place the contours as if the slices were regular — write DICOM SEG "
            "(saltseg batch --format dicom-seg), .seg.nrrd or .nii.gz instead, which are placed correctly")


def _series_folder(files: Sequence[str], folder: Path) -> Path:
    """rt-utils reads every DICOM file of a folder: give it exactly this series, identifiers set."""
    for number, name in enumerate(files):
        _referencable(name, stop_before_pixels=False).save_as(folder / f"{number:05d}.dcm")
    return folder


def _slice_indices(labelmap: sitk.Image, series) -> list[int]:
    """For each slice rt-utils uses (its own order), the labelmap's slice at the same position."""
    indices = []
    for dataset in series:
        position = [float(v) for v in dataset.ImagePositionPatient]
        i, j, k = labelmap.TransformPhysicalPointToContinuousIndex(position)
        if abs(i) > 0.01 or abs(j) > 0.01 or abs(k - round(k)) > 0.01 or not 0 <= round(k) < labelmap.GetSize()[2]:
            raise InputImageError("the segmentation does not lie on the DICOM series' grid; an RT Structure "
                                  "Set can only be written for the series that was segmented")
        indices.append(int(round(k)))
    return indices


def write_rtstruct(labelmap: sitk.Image, tree: LabelTree, series_files: Sequence[str],
                   output: Union[str, Path], model_id: str = "") -> Path:
    """Write ``labelmap`` (SALT label values of ``tree``) as an RT Structure Set referencing the
    series ``series_files``; the file appears only complete."""
    builder = require_rt_utils()
    output = Path(output)
    values = [int(v) for v in np.unique(sitk.GetArrayViewFromImage(labelmap)) if v != tree.background_value]
    labels = sitk.GetArrayViewFromImage(labelmap)
    # pydicom logs its own deprecations at WARNING while rt-utils writes: not for the terminal.
    with library_logs_at_debug(logger, "pydicom"), tempfile.TemporaryDirectory(prefix="saltseg-rtstruct-") as folder:
        structure_set = builder.create_new(dicom_series_path=str(_series_folder(series_files, Path(folder))))
        slices = labels[_slice_indices(labelmap, structure_set.series_data)]  # (slices, rows, cols)
        count = 0
        for entry in label_table(tree, values):
            mask = np.moveaxis(slices == entry.value, 0, -1)  # rt-utils: (rows, cols, slices)
            if not mask.any():
                continue
            color = [int(round(255 * c)) for c in entry.color]
            # A pin hole joins each hole to its outline, so readers that fill every contour (not
            # even-odd) still get a ring back as a ring: subcutaneous fat, the ribs' cortex.
            structure_set.add_roi(mask=mask, color=color, name=entry.name[:MAX_ROI_NAME],
                                  description=entry.node_id, use_pin_hole=True)
            count += 1
        structure_set.set_series_description(f"SALT {model_id}".strip()[:64])
        with atomic_path(output, suffix=".dcm") as tmp, contextlib.redirect_stdout(io.StringIO()):
            structure_set.save(str(tmp))  # (rt-utils prints the temporary name)
    logger.info("wrote %d ROIs to %s", count, output)
    return output


def read_rtstruct_masks(series_files: Sequence[str], path: Union[str, Path]) -> dict[str, np.ndarray]:
    """ROI name → mask (rows, cols, slices in rt-utils' slice order) of a structure set: for checks."""
    builder = require_rt_utils()
    with library_logs_at_debug(logger, "pydicom"), tempfile.TemporaryDirectory(prefix="saltseg-rtstruct-") as folder:
        structure_set = builder.create_from(dicom_series_path=str(_series_folder(series_files, Path(folder))),
                                            rt_struct_path=str(path))
        return {name: structure_set.get_roi_mask_by_name(name) for name in structure_set.get_roi_names()}
