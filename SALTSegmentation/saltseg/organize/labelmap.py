"""A labelmap with names → SALT's form: the organised tree and a labelmap of its label values.

The result is exactly what the engine itself produces (value = the leaf's position in the sorted
leaf list, 0 = ``background``), so the writers, ``volumes.csv``, the Slicer module and statistics
treat an organised TotalSegmentator or CADS result like a SALT result.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Mapping, Optional

import numpy as np
import SimpleITK as sitk

from ..errors import MappingError
from ..tree.labeltree import LabelTree
from .codes import CodeKey
from .extended_tree import leaf_tree
from .mapping import Placement, SchemeSpec, Structure, check_sides, place_structures

logger = logging.getLogger(__name__)


@dataclass
class OrganisedLabelmap:
    labelmap: sitk.Image  # SALT label values of ``tree``
    tree: LabelTree
    placement: Placement
    values: dict  # input label value → organised label value (only the values present)
    #: organised label value → the model id its structure carried in (one model for all its values)
    model_ids: dict = field(default_factory=dict)

    def written_model_ids(self, organised_id: str) -> tuple[str, dict[int, str]]:
        """(the result's model id, label value → each segment's): a structure keeps the model id it
        carried (a SALT result organised again still names its model), the others get
        ``organised_id``; the result's is the one model's when every structure came from it."""
        ids = set(self.model_ids.values())
        every_one = len(self.model_ids) == len(set(self.values.values()))
        return (ids.pop() if len(ids) == 1 and every_one else organised_id), dict(self.model_ids)


def organise_labelmap(labelmap: sitk.Image, names: Mapping[int, str], scheme: SchemeSpec = "auto",
                      codes: Optional[Mapping[int, CodeKey]] = None,
                      paths: Optional[Mapping[int, tuple]] = None,
                      model_ids: Optional[Mapping[int, str]] = None) -> OrganisedLabelmap:
    """Place every structure of ``labelmap`` (value → ``names``; 0 is the background) in the tree.

    A value present in the image but missing from ``names`` is kept as ``label <value>`` under
    ``unmapped``; nothing is dropped.
    """
    array = sitk.GetArrayViewFromImage(labelmap)
    if not np.issubdtype(array.dtype, np.integer):
        raise MappingError(f"a labelmap must hold integer label values, not {array.dtype}")
    if array.size and int(array.min()) < 0:
        raise MappingError("a labelmap cannot hold negative label values")
    present = [int(v) for v in np.unique(array) if v != 0]
    codes, paths = codes or {}, paths or {}
    structures = [Structure(value, names.get(value, f"label {value}"), codes.get(value), paths.get(value))
                  for value in present]
    placement = place_structures(structures, scheme)
    check_sides(placement, structures)
    tree = leaf_tree(placement.paths.values())
    lookup = np.zeros(int(max(present, default=0)) + 1, dtype=np.int64)
    background = tree.background_value
    lookup[0] = 0 if background is None else background
    mapping = {}
    for value in present:
        mapping[value] = tree.label_value(placement.paths[value])
        lookup[value] = mapping[value]
    dtype = np.uint8 if len(tree.leaves) <= 255 else np.uint16
    organised = sitk.GetImageFromArray(lookup[np.asarray(array)].astype(dtype))
    organised.CopyInformation(labelmap)
    logger.info("%s", placement.summary())
    return OrganisedLabelmap(organised, tree, placement, mapping, _carried_ids(mapping, model_ids or {}))


def _carried_ids(mapping: Mapping[int, int], model_ids: Mapping[int, str]) -> dict[int, str]:
    """Organised label value → the model id all its input values carried (none where they differ)."""
    by_output: dict[int, set] = {}
    for value, organised in mapping.items():
        by_output.setdefault(organised, set()).add(model_ids.get(value))
    return {organised: ids.pop() for organised, ids in by_output.items() if len(ids) == 1 and None not in ids}
