"""*Show uncertain voxels*: the voxels of a tree node where the model was unsure — its confidence
(the chosen leaf's probability) below the engine's threshold — as a segment of their own to review.

The segment is named ``uncertain: <structure>``, drawn in a colour no structure has (magenta), and
carries no tree path: the Structures panel leaves it out, the Segments table and the Segment
Editor show it. Asking again for the same node replaces it.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Optional

import numpy as np
import slicer
from saltseg.analysis.statistics import UNCERTAIN_BELOW  # the engine's threshold: statistics say the same

from .mrml_helpers import BINARY_LABELMAP, oriented_image_from_array
from .node_voxels import segments_mask
from .probability_maps import confidence_map, map_scale, map_voxels

logger = logging.getLogger(__name__)

UNCERTAIN_COLOR = (1.0, 0.0, 1.0)
SEGMENT_ID_PREFIX = "uncertain:"


class NoConfidenceMap(ValueError):
    """The segmentation has no confidence map (it was made without probability maps)."""


@dataclass(frozen=True)
class UncertainRegion:
    segment_id: Optional[str]  # None: no voxel of the node is uncertain (no segment was made)
    name: str
    voxels: int
    volume_ml: float


def node_name(segmentation_node, node_id: str) -> str:
    from .tree_storage import load_tree

    tree = load_tree(segmentation_node)
    if tree is not None and tuple(node_id.split(",")) in set(tree.paths):
        return tree.display_name(node_id)
    return node_id.rsplit(",", 1)[-1].replace("_", " ")


def uncertain_mask(segmentation_node, node_id: str, below: float = UNCERTAIN_BELOW) -> np.ndarray:
    """The node's voxels (k, j, i on the maps' grid) whose confidence is below ``below``."""
    from .subtrees import subtree_segment_ids

    confidence = confidence_map(segmentation_node)
    if confidence is None:
        raise NoConfidenceMap(f"{segmentation_node.GetName()!r} has no confidence map: segment again with "
                              "Output → Probability maps checked")
    inside = segments_mask(segmentation_node, subtree_segment_ids(segmentation_node, node_id), confidence)
    return np.logical_and(inside, below_threshold(map_voxels(confidence), map_scale(confidence), below), out=inside)


def below_threshold(values: np.ndarray, scale: float, threshold: float) -> np.ndarray:
    """``values · scale < threshold``, compared in the map's own type (no float copy of the map):
    for whole numbers, ``v < t/scale`` ⇔ ``v < ceil(t/scale)`` (less a rounding hair)."""
    limit = threshold / scale
    if values.dtype.kind in "ui":
        return values < math.ceil(limit - 1e-9)
    return values < values.dtype.type(limit)


def add_uncertain_segment(segmentation_node, node_id: str, below: float = UNCERTAIN_BELOW) -> UncertainRegion:
    """Add (or replace) the segment of the node's uncertain voxels; none is made where there are none."""
    mask = uncertain_mask(segmentation_node, node_id, below)
    confidence = confidence_map(segmentation_node)
    name = f"uncertain: {node_name(segmentation_node, node_id)}"
    segment_id = SEGMENT_ID_PREFIX + node_id
    segmentation = segmentation_node.GetSegmentation()
    voxels = int(np.count_nonzero(mask))
    spacing = confidence.GetSpacing()
    volume_ml = voxels * float(np.prod(spacing)) / 1000.0
    if segmentation.GetSegment(segment_id) is not None:
        segmentation.RemoveSegment(segment_id)  # the earlier review of this node
    if not voxels:
        return UncertainRegion(None, name, 0, 0.0)
    segment = slicer.vtkSegment()
    segment.SetName(name)
    segment.SetColor(*UNCERTAIN_COLOR)
    segment.AddRepresentation(BINARY_LABELMAP, oriented_image_from_array(mask.view(np.uint8), confidence))
    segmentation.AddSegment(segment, segment_id)
    logger.info("%s: %d voxels below %.2f", name, voxels, below)
    return UncertainRegion(segment_id, name, voxels, volume_ml)
