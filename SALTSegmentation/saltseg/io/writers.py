"""Writing results: a Slicer ``.seg.nrrd`` or a labelmap (``.nii.gz``/``.nrrd``/``.mha``/``.mhd``)
with a JSON label table beside it. Every file appears only complete (temp file, then rename);
``.mhd``/``.nhdr`` (header + separate data file) are written so that the header names the final data
file and appears after it."""
from __future__ import annotations

import logging

from pathlib import Path
from typing import Mapping, Optional, Sequence, Union

import numpy as np
import SimpleITK as sitk

from ..atomic import (IncompleteWrite, atomic_path, atomic_write, atomic_write_with_data_files, confirm_room,
                      remove_stale_parts)
from ..errors import OutputError
from ..tree.label_table import label_table, label_table_json
from ..tree.labeltree import LabelTree
from .detached_files import is_detached_header, named_data_files, stale_data_files
from .nifti_check import nifti_truncation
from .output_check import check_output_locations

SEG_NRRD = ".seg.nrrd"
LABELMAP_SUFFIXES = (".nii.gz", ".nii", ".nrrd", ".mha", ".mhd", ".nhdr")
#: Segment tag keys (Slicer stores tags as ``key:value|``); the tree path is the stable key.
TAG_TREE_PATH = "SALT.TreePath"
TAG_NODE_INDEX = "SALT.NodeIndex"
TAG_LABEL_VALUE = "SALT.LabelValue"
TAG_MODEL_ID = "SALT.ModelId"
HEADER_TREE = "SALT_LabelTree"
#: A DICOM SEG segment's description: this text, then its tree path (also its Tracking ID).
DICOM_TREE_PATH_DESCRIPTION = "SALT tree path: "
#: A temporary file of an earlier run this old was left by a killed process: writing one output
#: takes seconds, and the temporary file is created just before.
STALE_PART_AGE_S = 3600.0

logger = logging.getLogger(__name__)


def output_kind(path: Union[str, Path]) -> str:
    name = Path(path).name.lower()
    if name.endswith(SEG_NRRD):
        return "seg.nrrd"
    for suffix in LABELMAP_SUFFIXES:
        if name.endswith(suffix):
            return "labelmap"
    raise OutputError(
        f"cannot tell the output format of {path}: use .seg.nrrd (Slicer segmentation) or a "
        f"labelmap ({', '.join(LABELMAP_SUFFIXES)})"
    )


def _suffix(path: Path) -> str:
    name = path.name.lower()
    for suffix in (SEG_NRRD,) + LABELMAP_SUFFIXES:
        if name.endswith(suffix):
            return suffix
    return path.suffix


def label_table_path(labelmap_path: Union[str, Path]) -> Path:
    """``ct.nii.gz`` → ``ct.labels.json`` beside it."""
    path = Path(labelmap_path)
    return path.with_name(path.name[: -len(_suffix(path))] + ".labels.json")


def check_output_path(path: Union[str, Path]) -> Path:
    """Fail before any computation if the output cannot be written (format, folder, not a folder)."""
    path = Path(path)
    output_kind(path)
    check_output_locations([path])
    return path


def write_image_file(image: sitk.Image, path: Union[str, Path], compress: bool = True) -> list[Path]:
    """Write ``image`` to ``path`` atomically (format from the suffix); returns the files written
    (the header first for ``.mhd``/``.nhdr``). Temporary files a killed earlier run left for this
    output are removed first. Replacing a header whose data file had another of our names (``a.raw``
    of an uncompressed run, now ``a.zraw``) removes that old data file once the new pair is in place."""
    path = Path(path)
    remove_stale_parts(path, older_than_s=STALE_PART_AGE_S)
    if path.exists():
        logger.info("replacing the existing %s", path)
    if is_detached_header(path):
        previous = named_data_files(path)
        written = atomic_write_with_data_files(path, lambda tmp: write_with_sitk(image, tmp, compress))
        for stale in stale_data_files(path, previous, written):
            logger.info("removing %s, the data file of the replaced %s", stale, path.name)
            stale.unlink(missing_ok=True)
        return written
    return [atomic_write(path, lambda tmp: write_with_sitk(image, tmp, compress), suffix=_suffix(path))]


def write_with_sitk(image: sitk.Image, path: Path, compress: bool = True) -> None:
    """``sitk.WriteImage``, then the checks its writers skip: raises
    :class:`~saltseg.atomic.IncompleteWrite` for a file that a full disk (a quota, a size limit)
    may have cut short without an error."""
    sitk.WriteImage(image, str(path), compress)
    confirm_room(path.parent)
    problem = nifti_truncation(path)
    if problem:
        raise IncompleteWrite(f"the file came out incomplete ({problem})")


def present_values(labelmap: sitk.Image, background_value: Optional[int]) -> list[int]:
    values = np.unique(sitk.GetArrayViewFromImage(labelmap))
    return [int(v) for v in values if background_value is None or v != background_value]


def write_labelmap(labelmap: sitk.Image, path: Union[str, Path], tree: LabelTree,
                   model_id: str = "") -> tuple[Path, Path]:
    """Labelmap with SALT's values plus ``<name>.labels.json``; returns both paths."""
    path = check_output_path(path)
    table_path = label_table_path(path)
    values = present_values(labelmap, tree.background_value)
    # The table's new content waits beside it until the labelmap is written: a failed write leaves
    # the folder as it was (an existing pair stays a matching pair).
    with atomic_path(table_path) as table_tmp:
        table_tmp.write_text(label_table_json(tree, values, model_id=model_id))
        write_image_file(labelmap, path)
    return path, table_path


def _extents(labelmap: sitk.Image, values: Sequence[int]) -> dict[int, list[int]]:
    stats = sitk.LabelShapeStatisticsImageFilter()
    stats.ComputeOrientedBoundingBoxOff()
    stats.Execute(sitk.Cast(labelmap, sitk.sitkUInt16))
    extents = {}
    for value in values:
        if value == 0 or not stats.HasLabel(value):
            continue
        x, y, z, sx, sy, sz = stats.GetBoundingBox(value)
        extents[value] = [x, x + sx - 1, y, y + sy - 1, z, z + sz - 1]
    return extents


def ijk_to_lps(image: sitk.Image) -> np.ndarray:
    matrix = np.eye(4)
    direction = np.asarray(image.GetDirection(), dtype=float).reshape(3, 3)
    matrix[:3, :3] = direction * np.asarray(image.GetSpacing(), dtype=float)
    matrix[:3, 3] = image.GetOrigin()
    return matrix


def segmentation_document(labelmap: sitk.Image, tree: LabelTree, model_id: str = "",
                          segment_model_ids: Optional[Mapping[int, str]] = None) -> dict:
    """A ``slicerio`` segmentation: one segment per present leaf, values kept as SALT's; each
    segment tagged with the model that made it (``segment_model_ids`` by label value, else ``model_id``)."""
    values = present_values(labelmap, tree.background_value)
    if 0 in values:
        # Slicer reserves 0 for "no segment"; only a tree without a background leaf gets here.
        raise OutputError("label value 0 is a real structure in this tree; write a labelmap instead")
    extents = _extents(labelmap, values)
    segments = []
    for entry in label_table(tree, values):
        segments.append({
            "id": entry.node_id,
            "name": entry.name,
            "color": [round(c, 4) for c in entry.color],
            "labelValue": entry.value,
            "layer": 0,
            "extent": extents.get(entry.value, [0, -1, 0, -1, 0, -1]),
            "tags": {
                TAG_TREE_PATH: entry.node_id,
                TAG_NODE_INDEX: str(entry.node),
                TAG_LABEL_VALUE: str(entry.value),
                TAG_MODEL_ID: (segment_model_ids or {}).get(entry.value, model_id),
            },
        })
    voxels = sitk.GetArrayFromImage(labelmap).transpose(2, 1, 0)
    return {
        "voxels": voxels,
        "ijkToLPS": ijk_to_lps(labelmap),
        "segments": segments,
        "containedRepresentationNames": ["Binary labelmap"],
        "masterRepresentation": "Binary labelmap",
        HEADER_TREE: tree.to_json(),
    }


def write_seg_nrrd(labelmap: sitk.Image, path: Union[str, Path], tree: LabelTree, model_id: str = "",
                   segment_model_ids: Optional[Mapping[int, str]] = None) -> Path:
    import slicerio

    path = check_output_path(path)
    document = segmentation_document(labelmap, tree, model_id, segment_model_ids)
    remove_stale_parts(path, older_than_s=STALE_PART_AGE_S)
    if path.exists():
        logger.info("replacing the existing %s", path)
    atomic_write(path, lambda tmp: slicerio.write_segmentation(str(tmp), document), suffix=SEG_NRRD)
    return path


def node_mask_path(output: Union[str, Path], node_id: str) -> Path:
    """``ct.seg.nrrd`` + ``body,bones,spine`` → ``ct.body-bones-spine.nii.gz``."""
    output = Path(output)
    stem = output.name[: -len(_suffix(output))]
    return output.with_name(f"{stem}.{node_id.replace(',', '-')}.nii.gz")


def write_node_mask(mask: sitk.Image, output: Union[str, Path], node_id: str) -> Path:
    return write_image_file(mask, node_mask_path(output, node_id))[0]


def write_result(labelmap: sitk.Image, path: Union[str, Path], tree: LabelTree, model_id: str = "",
                 segment_model_ids: Optional[Mapping[int, str]] = None) -> list[Path]:
    """The labels as a ``.seg.nrrd`` (each segment tagged with the model that made it:
    ``segment_model_ids`` by label value, else ``model_id``) or a labelmap with its label table
    (``model_id`` for the whole)."""
    if output_kind(path) == "seg.nrrd":
        return [write_seg_nrrd(labelmap, path, tree, model_id, segment_model_ids)]
    return list(write_labelmap(labelmap, path, tree, model_id))
