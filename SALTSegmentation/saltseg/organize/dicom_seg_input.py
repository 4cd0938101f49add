"""Reading a DICOM Segmentation (SEG) as structures: segment labels, SNOMED CT codes (type,
laterality, anatomic region) and, for SEGs this project wrote, the tree path in the Tracking ID.

Needs highdicom (``saltseg[dicom-seg]``). Overlapping segments: the later segment keeps a shared
voxel, with a warning, as for ``.seg.nrrd`` inputs.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Optional, Union

import numpy as np
import SimpleITK as sitk

from ..errors import InputImageError, MappingError
from .codes import CodeKey
from .own_tags import dicom_seg_segment_path
from .structure_input import StructureInput

logger = logging.getLogger(__name__)

SEG_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.66.4"
_SIDES = {"7771000": "left", "24028007": "right"}


def is_dicom_seg(path: Union[str, Path]) -> bool:
    """True for a DICOM file whose SOP class is Segmentation Storage (header only is read)."""
    path = Path(path)
    if not path.is_file():
        return False
    with open(path, "rb") as handle:
        handle.seek(128)
        if handle.read(4) != b"DICM":
            return False
    import pydicom

    try:
        header = pydicom.dcmread(path, stop_before_pixels=True)
    except Exception:  # noqa: BLE001 - anything unreadable is simply not a DICOM SEG
        return False
    return str(header.get("SOPClassUID", "")) == SEG_SOP_CLASS


def _code_key(item) -> Optional[CodeKey]:
    types = item.get("SegmentedPropertyTypeCodeSequence") or []
    if not types:
        return None
    code = str(types[0].get("CodeValue", "") or "")
    if not code:
        return None
    # The standard puts laterality inside the type item; some writers put it on the segment.
    modifiers = list(types[0].get("SegmentedPropertyTypeModifierCodeSequence") or []) + \
        list(item.get("SegmentedPropertyTypeModifierCodeSequence") or [])
    side = next((_SIDES[str(m.CodeValue)] for m in modifiers if str(m.get("CodeValue", "")) in _SIDES), None)
    regions = item.get("AnatomicRegionSequence") or []
    region = str(regions[0].get("CodeValue", "")) if regions else ""
    if side is None and regions:
        region_modifiers = regions[0].get("AnatomicRegionModifierSequence") or []
        side = next((_SIDES[str(m.CodeValue)] for m in region_modifiers if str(m.get("CodeValue", "")) in _SIDES),
                    None)
    return CodeKey(code, region or None, side)


def read_dicom_seg(path: Union[str, Path]):
    """A DICOM SEG → a :class:`~saltseg.organize.structure_input.StructureInput` (codes and paths included)."""

    try:
        import highdicom as hd
    except ImportError as error:
        raise MappingError("reading DICOM SEG needs highdicom: pip install 'saltseg[dicom-seg]'") from error
    try:
        seg = hd.seg.segread(str(path))
        volume = seg.get_volume(combine_segments=False)
    except Exception as error:  # highdicom raises many kinds for broken or unusual files
        raise InputImageError(f"cannot read the DICOM SEG {path}: {error}") from error
    array = np.asarray(volume.array)
    numbers = list(seg.segment_numbers)
    if array.ndim == 3:
        array = array[..., np.newaxis]
    combined = np.zeros(array.shape[:3], dtype=np.uint16)
    names, codes, paths = {}, {}, {}
    overlaps = 0
    for channel, number in enumerate(numbers, start=0):
        mask = array[..., channel] > 0
        value = channel + 1
        overlaps += int(np.count_nonzero(mask & (combined != 0)))
        combined[mask] = value
        item = seg.SegmentSequence[number - 1]
        names[value] = str(item.get("SegmentLabel", "") or f"segment {number}")
        key = _code_key(item)
        if key is not None:
            codes[value] = key
        found = dicom_seg_segment_path(item, str(path))
        if found is not None:
            paths[value] = found
    if overlaps:
        logger.warning("%s: %d voxels belong to more than one segment; the later segment keeps them", path, overlaps)
    image = sitk.GetImageFromArray(combined)
    affine = np.asarray(volume.affine, dtype=float)
    axes = affine[:3, :3][:, ::-1]  # array axes (slice, row, column) → ITK index (x, y, z)
    spacing = np.linalg.norm(axes, axis=0)
    image.SetSpacing(tuple(float(s) for s in spacing))
    image.SetDirection(tuple((axes / spacing).ravel().tolist()))
    image.SetOrigin(tuple(float(o) for o in affine[:3, 3]))
    return StructureInput(image, names, codes, kind="dicom-seg", paths=paths)
