"""Reading an existing segmentation as one labelmap with a name (and code) per label value.

Accepted: a labelmap file (NIfTI/NRRD/MHA) with a name table (``--labels``, a sidecar file, or the
scheme's own class map), a folder of per-structure masks (TotalSegmentator's default output), a
Slicer ``.seg.nrrd`` (names and terminology codes of its segments) and a DICOM SEG. The tree paths
that this project's own outputs carry are read too (:mod:`.own_tags`), and placement keeps them.
"""
from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Optional, Union

import numpy as np
import SimpleITK as sitk

from ..analysis import label_names
from ..analysis.segment_layers import combine_layers, set_geometry
from ..analysis.segmentation_file import header_tree
from ..errors import InputImageError, MappingError
from ..io.image_io import read_image
from ..io.writers import TAG_MODEL_ID, TAG_TREE_PATH
from .codes import CodeKey, key_from_terminology_dict
from .dicom_seg_input import is_dicom_seg, read_dicom_seg
from .own_tags import label_table_structures, seg_nrrd_segment_path
from .structure_input import StructureInput
from .schemes import BUILTIN_SCHEMES, builtin_scheme

logger = logging.getLogger(__name__)

MASK_SUFFIXES = (".nii.gz", ".nii", ".nrrd", ".mha")


def _strip_suffix(name: str) -> str:
    lower = name.lower()
    for suffix in (".seg.nrrd",) + MASK_SUFFIXES:
        if lower.endswith(suffix):
            return name[: -len(suffix)]
    return Path(name).stem


def read_name_table(path: Union[str, Path]) -> dict[int, str]:
    """A value → name table (:func:`saltseg.analysis.label_names.read_name_table`'s formats) without
    value 0, the background of every labelmap organised here."""
    try:
        table = label_names.read_name_table(path)
    except InputImageError as error:
        raise MappingError(str(error)) from error
    table = {value: name for value, name in table.items() if value != 0}
    if not table:
        raise MappingError(f"name table {path} names no label value")
    return table


def _named_labelmap(labelmap: sitk.Image, table: Path) -> StructureInput:
    """The labelmap with the names of ``table``, and the tree paths where this project wrote it."""
    own = label_table_structures(table)
    if own is not None:
        names, paths, model_id = own
        model_ids = dict.fromkeys(paths, model_id) if model_id else {}
        return StructureInput(labelmap, names, paths=paths, model_ids=model_ids)
    return StructureInput(labelmap, read_name_table(table))


def _sidecar_table(path: Path) -> Optional[Path]:
    stem = _strip_suffix(path.name)
    for candidate in (f"{stem}_labels.json", f"{stem}.labels.json", f"{stem}.labels.txt"):
        sidecar = path.with_name(candidate)
        if sidecar.is_file():
            logger.info("label names from %s", sidecar)
            return sidecar
    return None


_CADS_PART = re.compile(r"_part_(\d{3})(?:_|\.)")


def _scheme_table(scheme: str, task: Optional[str], path: Path) -> tuple[dict[int, str], str]:
    """The value → name map of the scheme's task, and the scheme."""
    part = _CADS_PART.search(path.name)
    if task is None and part and scheme in ("auto", "cads") and part.group(1) in builtin_scheme("cads").tasks:
        logger.info("%s: a CADS part model output (task %s)", path.name, part.group(1))
        return builtin_scheme("cads").value_names(part.group(1)), "cads"  # CADS writes <case>_part_551.nii.gz
    if scheme not in BUILTIN_SCHEMES or not builtin_scheme(scheme).tasks:
        raise MappingError(
            f"{path} has no name table: give one with --labels (JSON value → name, or 'value name' lines), "
            "or --scheme totalsegmentator / cads to read its values by that model's class map")
    return builtin_scheme(scheme).value_names(task), scheme


def _read_labelmap(path: Path) -> sitk.Image:
    image = read_image(path)
    if image.GetNumberOfComponentsPerPixel() != 1 or image.GetDimension() != 3:
        raise InputImageError(f"{path} is not a 3D labelmap")
    if not np.issubdtype(sitk.GetArrayViewFromImage(image).dtype, np.integer):
        array = sitk.GetArrayFromImage(image)
        if not np.array_equal(array, np.round(array)):
            raise InputImageError(f"{path} holds non-integer values: not a labelmap")
        rounded = sitk.GetImageFromArray(array.astype(np.int32))
        rounded.CopyInformation(image)
        image = rounded
    return image


def _read_mask_folder(folder: Path) -> StructureInput:
    files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")
                   and p.name.lower().endswith(MASK_SUFFIXES))
    if not files:
        raise InputImageError(f"{folder} holds no segmentation masks (.nii.gz/.nii/.nrrd/.mha per structure)")
    reference = _read_labelmap(files[0])
    combined = np.zeros(sitk.GetArrayViewFromImage(reference).shape, dtype=np.uint16)
    names: dict[int, str] = {}
    overlaps = 0
    for value, file in enumerate(files, start=1):
        image = reference if value == 1 else _read_labelmap(file)
        if image.GetSize() != reference.GetSize() or not np.allclose(image.GetSpacing(), reference.GetSpacing()) \
                or not np.allclose(image.GetOrigin(), reference.GetOrigin(), atol=1e-3):
            raise InputImageError(f"{file.name} is not on the grid of {files[0].name}: the masks of one "
                                  "segmentation must share one grid")
        mask = sitk.GetArrayViewFromImage(image) != 0
        overlaps += int(np.count_nonzero(mask & (combined != 0)))
        combined[mask] = value
        names[value] = _strip_suffix(file.name)
    if overlaps:
        logger.warning("%d voxels belong to more than one mask; the mask later in name order keeps them", overlaps)
    labelmap = sitk.GetImageFromArray(combined)
    labelmap.CopyInformation(reference)
    return StructureInput(labelmap, names, kind="mask folder")


def _read_seg_nrrd(path: Path) -> StructureInput:
    import slicerio

    try:
        segmentation = slicerio.read_segmentation(str(path))
    except Exception as error:  # slicerio raises plain exceptions for broken headers
        raise InputImageError(f"cannot read the segmentation {path}: {error}") from error
    voxels = segmentation["voxels"]
    segments = segmentation.get("segments", [])
    if voxels is None or not segments:
        raise InputImageError(f"{path} holds no segments")
    names: dict[int, str] = {}
    codes: dict[int, CodeKey] = {}
    paths: dict[int, tuple] = {}
    model_ids: dict[int, str] = {}
    # The stored tree is needed only for a segment that lost its tree-path tag.
    untagged = any(TAG_TREE_PATH not in (segment.get("tags") or {}) for segment in segments)
    stored = header_tree(segmentation, str(path)) if untagged else None
    for value, segment in enumerate(segments, start=1):
        names[value] = segment.get("name") or segment.get("id") or f"segment {value}"
        key = key_from_terminology_dict(segment.get("terminology") or {})
        if key is not None:
            codes[value] = key
        own = seg_nrrd_segment_path(segment, stored, str(path))
        if own is not None:
            paths[value] = own
            made_by = (segment.get("tags") or {}).get(TAG_MODEL_ID)
            if made_by:
                model_ids[value] = str(made_by)
    # Each shared layer relabelled once (the later segment keeps a shared voxel, with a warning).
    layers = np.asarray(voxels) if np.ndim(voxels) == 4 else np.asarray(voxels)[np.newaxis]
    placement = [(int(s.get("layer", 0)), int(s.get("labelValue", 1))) for s in segments]
    combined = combine_layers(layers, placement, path.name, [names[value] for value in range(1, len(segments) + 1)])
    labelmap = sitk.GetImageFromArray(combined.transpose(2, 1, 0))  # slicerio arrays are i, j, k
    set_geometry(labelmap, np.asarray(segmentation["ijkToLPS"], dtype=float))
    return StructureInput(labelmap, names, codes, kind="seg.nrrd", paths=paths, model_ids=model_ids)


def read_structures(path: Union[str, Path], labels: Optional[Union[str, Path]] = None, scheme: str = "auto",
                    task: Optional[str] = None) -> StructureInput:
    """Read ``path`` (labelmap, mask folder, ``.seg.nrrd`` or DICOM SEG) with a name for every label value."""
    path = Path(path)
    if not path.exists():
        raise InputImageError(f"input {path} does not exist")
    if path.is_dir():
        return _read_mask_folder(path)
    if path.name.lower().endswith(".seg.nrrd"):
        return _read_seg_nrrd(path)
    if is_dicom_seg(path):
        return read_dicom_seg(path)
    labelmap = _read_labelmap(path)
    table = Path(labels) if labels is not None else _sidecar_table(path)
    if table is not None:
        return _named_labelmap(labelmap, table)
    names, named_by = _scheme_table(str(scheme), task, path)
    return StructureInput(labelmap, names, scheme=named_by)
