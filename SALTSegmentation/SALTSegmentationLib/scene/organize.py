""""Show as label tree": any segmentation node in the scene, placed in the organised label tree.

The segments are tagged, never re-created: their IDs, names, colours, voxels and the user's edits
stay as they are. Each segment is placed by its terminology code (SNOMED CT, with laterality) or
by its name; a segment that already carries a SALT tree path keeps it. Segments nothing can place
are tagged under ``unmapped`` and named in the result.
"""
from __future__ import annotations

import logging
from typing import Optional

from saltseg.io.writers import TAG_MODEL_ID, TAG_NODE_INDEX, TAG_TREE_PATH
from saltseg.organize.codes import parse_terminology_entry
from saltseg.organize.extended_tree import organised_tree
from saltseg.organize.mapping import (MODEL_ID_PREFIX, Placement, SchemeSpec, Structure, check_sides,
                                      place_structures)

from .mrml_helpers import segment_tag
from .terminology import TERMINOLOGY_TAG
from .tree_storage import model_id_of, store_tree

logger = logging.getLogger(__name__)


def segment_structures(segmentation_node) -> list[Structure]:
    """One :class:`Structure` per segment (key: segment ID). A segment already tagged with a
    tree path (a SALT result, or organised before) keeps it; one under ``unmapped`` is tried again."""
    segmentation = segmentation_node.GetSegmentation()
    structures = []
    for index in range(segmentation.GetNumberOfSegments()):
        segment_id = segmentation.GetNthSegmentID(index)
        segment = segmentation.GetSegment(segment_id)
        tag = segment_tag(segment, TAG_TREE_PATH)
        path = tuple(tag.split(",")) if tag else None
        code = parse_terminology_entry(segment_tag(segment, TERMINOLOGY_TAG) or "")
        structures.append(Structure(segment_id, segment.GetName() or segment_id, code, path))
    return structures


def organize_segmentation(segmentation_node, scheme: SchemeSpec = "auto") -> Placement:
    """Tag every segment of ``segmentation_node`` with its tree path and store the organised tree
    on the node, so the module's tree panel, subtree visibility, merge and statistics work on it.

    Where a structure came from is kept: a segment that already had a tree path keeps its model
    id (a SALT result's segments still name the model that made them), and so does the node when
    a model made it; the others get ``organized:<scheme>``."""
    if segmentation_node is None or not segmentation_node.IsA("vtkMRMLSegmentationNode"):
        raise ValueError("select a segmentation node to show as a label tree")
    structures = segment_structures(segmentation_node)
    if not structures:
        raise ValueError(f"the segmentation '{segmentation_node.GetName()}' has no segments")
    placement = place_structures(structures, scheme)
    check_sides(placement, structures)
    tree = organised_tree(placement.paths.values())
    segmentation = segmentation_node.GetSegmentation()
    model_id = MODEL_ID_PREFIX + placement.scheme
    made_by = model_id_of(segmentation_node)
    node_model_id = made_by if made_by and not made_by.startswith(MODEL_ID_PREFIX) else model_id
    was_modifying = segmentation_node.StartModify()
    try:
        for structure in structures:
            segment = segmentation.GetSegment(structure.key)
            path = placement.paths[structure.key]
            segment.SetTag(TAG_TREE_PATH, ",".join(path))
            segment.SetTag(TAG_NODE_INDEX, str(tree.index(path)))
            if structure.path is None or not segment_tag(segment, TAG_MODEL_ID):
                segment.SetTag(TAG_MODEL_ID, model_id)
        store_tree(segmentation_node, tree, node_model_id)
    finally:
        segmentation_node.EndModify(was_modifying)
    logger.info("%s: %s", segmentation_node.GetName(), placement.summary())
    return placement


def organize_status(placement: Placement, name: Optional[str] = None) -> str:
    """The one-line report shown in the module's status line."""
    existing, new = placement.new_node_count()
    text = f"{name}: " if name else ""
    text += f"{placement.summary()}. {existing} on SALT's nodes, {new} on nodes added to the tree."
    return text

