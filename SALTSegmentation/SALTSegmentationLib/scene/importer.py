"""A finished :class:`saltseg.inference.pipeline.SegmentationResult` → segments of a vtkMRMLSegmentationNode.

Everything is built in a detached ``vtkSegmentation`` first and copied into the node in one step,
so observers (views, the tree panel) never see a half-filled segmentation.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import SimpleITK as sitk
import slicer
from saltseg.io.writers import TAG_LABEL_VALUE, TAG_MODEL_ID, TAG_NODE_INDEX, TAG_TREE_PATH

from .mrml_helpers import BINARY_LABELMAP, ensure_converter_rules, oriented_image_from_array, \
    place_in_subject_hierarchy
from .terminology import TERMINOLOGY_TAG, terminology_entry
from .tree_storage import store_tree

if TYPE_CHECKING:
    from saltseg.inference.pipeline import SegmentationResult


def _check_same_grid(labelmap: sitk.Image, volume_node) -> None:
    dims = volume_node.GetImageData().GetDimensions()
    if tuple(labelmap.GetSize()) != tuple(dims):
        raise ValueError(f"result grid {labelmap.GetSize()} does not match the volume {dims}")


def build_segmentation(result: "SegmentationResult", volume_node) -> "slicer.vtkSegmentation":
    """One segment per present leaf, all sharing one labelmap on the volume's grid."""
    ensure_converter_rules()
    _check_same_grid(result.labelmap, volume_node)
    tree = result.tree
    values = sitk.GetArrayFromImage(result.labelmap)
    background = tree.background_value
    entries = result.label_table()
    # Slicer's shared labelmaps reserve 0 for "empty"; shift only if 0 is a real structure.
    offset = 1 if any(e.value == 0 for e in entries) else 0
    stored = values.astype(np.uint16 if len(tree.leaves) + offset > 255 else np.uint8)
    if offset or (background is not None and background != 0):
        stored = (values.astype(np.int64) + offset).astype(stored.dtype)
        if background is not None:
            stored[values == background] = 0
    labelmap = oriented_image_from_array(stored, volume_node)

    segmentation = slicer.vtkSegmentation()
    segmentation.SetSourceRepresentationName(BINARY_LABELMAP)
    for entry in entries:
        segment = slicer.vtkSegment()
        segment.SetName(entry.name)
        segment.SetColor(*entry.color)
        segment.SetLabelValue(entry.value + offset)
        segment.AddRepresentation(BINARY_LABELMAP, labelmap)
        segment.SetTag(TAG_TREE_PATH, entry.node_id)
        segment.SetTag(TAG_NODE_INDEX, str(entry.node))
        segment.SetTag(TAG_LABEL_VALUE, str(entry.value))
        segment.SetTag(TAG_MODEL_ID, result.model_id)
        code = terminology_entry(entry.path)
        if code is not None:
            segment.SetTag(TERMINOLOGY_TAG, code)
        # The tree path is the stable key, so it is also the segment ID (as in the CLI's files).
        segmentation.AddSegment(segment, entry.node_id)
    return segmentation


def drop_all_segments(segmentation: "slicer.vtkSegmentation") -> None:
    """Remove every segment without Slicer separating each from the shared labelmap first.

    ``RemoveSegment`` moves a segment out of its shared layer before removing it (two passes over
    the layer per segment: 15 s for 41 segments on 512×512×300 voxels), worthwhile only when other
    segments stay in that layer. Here the whole layer goes, so the labelmaps are detached first."""
    for index in range(segmentation.GetNumberOfSegments()):
        segmentation.GetNthSegment(index).RemoveRepresentation(BINARY_LABELMAP)
    segmentation.RemoveAllSegments()


def import_result(result: "SegmentationResult", segmentation_node, volume_node) -> None:
    """Replace the contents of ``segmentation_node`` with ``result`` (main thread only)."""
    segmentation = build_segmentation(result, volume_node)
    was_modifying = segmentation_node.StartModify()
    try:
        drop_all_segments(segmentation_node.GetSegmentation())  # DeepCopy would remove them one by one
        segmentation_node.GetSegmentation().DeepCopy(segmentation)
        drop_all_segments(segmentation)  # the detached copy, before its destructor removes them one by one
        segmentation_node.SetReferenceImageGeometryParameterFromVolumeNode(volume_node)
        segmentation_node.SetAndObserveTransformNodeID(volume_node.GetTransformNodeID())
        store_tree(segmentation_node, result.tree, result.model_id)
        if segmentation_node.GetDisplayNode() is None:
            segmentation_node.CreateDefaultDisplayNodes()
        place_in_subject_hierarchy(segmentation_node, volume_node)
    finally:
        segmentation_node.EndModify(was_modifying)
