"""Keeping the whole label tree (internal nodes included) on the segmentation node.

Three places, so it survives every way a user saves and reloads:

* a node attribute (``SALT.LabelTree``): saved with the MRML scene;
* a segmentation conversion parameter: Slicer writes these into the ``.seg.nrrd`` header and
  reads them back. The value is base64 because ``|`` and ``&`` separate parameters there;
* read-only fallbacks for files written elsewhere: the ``SALT_LabelTree`` header field the
  ``saltseg`` CLI writes, and finally the tree paths in the segment tags.
"""
from __future__ import annotations

import base64
import gzip
import logging
from pathlib import Path
from typing import Optional

import slicer
from saltseg.errors import SaltSegError
from saltseg.tree.labeltree import LabelTree
from saltseg.io.writers import HEADER_TREE, TAG_MODEL_ID, TAG_TREE_PATH

from .labelmap_representation import conversion_parameter
from .mrml_helpers import segment_tag

logger = logging.getLogger(__name__)

ATTRIBUTE_TREE = "SALT.LabelTree"
ATTRIBUTE_MODEL_ID = "SALT.ModelId"
CONVERSION_PARAMETER_TREE = "SALT_LabelTree_base64"


def store_tree(segmentation_node: "slicer.vtkMRMLSegmentationNode", tree: LabelTree, model_id: str = "") -> None:
    text = tree.to_json()
    segmentation_node.SetAttribute(ATTRIBUTE_TREE, text)
    segmentation_node.SetAttribute(ATTRIBUTE_MODEL_ID, model_id)
    encoded = base64.b64encode(text.encode("utf-8")).decode("ascii")
    segmentation_node.GetSegmentation().SetConversionParameter(CONVERSION_PARAMETER_TREE, encoded)


def _tree_from_conversion_parameter(segmentation_node) -> Optional[LabelTree]:
    # Most segmentations have no such parameter: asked directly, VTK would log an error for each.
    encoded = conversion_parameter(segmentation_node.GetSegmentation(), CONVERSION_PARAMETER_TREE)
    if not encoded:
        return None
    return LabelTree.from_json(base64.b64decode(encoded).decode("utf-8"))


def read_nrrd_header_field(path: Path, key: str) -> Optional[str]:
    """A ``key:=value`` field of a (possibly gzip-free) NRRD header; the header is plain text
    even when the voxel data is compressed."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as stream:
        for raw in stream:
            line = raw.decode("latin-1").rstrip("\r\n")
            if not line:
                break  # blank line ends the header
            if line.startswith(key + ":="):
                value = line[len(key) + 2:]
                # NRRD key/value fields escape newlines and backslashes.
                return value.replace("\\n", "\n").replace("\\\\", "\\")
    return None


def _tree_from_storage_file(segmentation_node) -> Optional[LabelTree]:
    storage = segmentation_node.GetStorageNode()
    file_name = storage.GetFileName() if storage is not None else None
    if not file_name or not Path(file_name).is_file():
        return None
    text = read_nrrd_header_field(Path(file_name), HEADER_TREE)
    return LabelTree.from_json(text) if text else None


def _tree_from_segment_tags(segmentation_node) -> Optional[LabelTree]:
    segmentation = segmentation_node.GetSegmentation()
    paths = []
    for index in range(segmentation.GetNumberOfSegments()):
        path = segment_tag(segmentation.GetNthSegment(index), TAG_TREE_PATH)
        if path:
            paths.append(tuple(path.split(",")))
    if not paths:
        return None
    # Only the present structures' paths are known; the tree they span is enough to browse them.
    leaves = [p for p in paths if not any(len(q) > len(p) and q[:len(p)] == p for q in paths)]
    return LabelTree.from_paths(leaves)


def load_tree(segmentation_node: "slicer.vtkMRMLSegmentationNode") -> Optional[LabelTree]:
    """The label tree stored on (or recoverable from) ``segmentation_node``; None if it has none."""
    text = segmentation_node.GetAttribute(ATTRIBUTE_TREE)
    sources = (
        lambda node: LabelTree.from_json(text) if text else None,
        _tree_from_conversion_parameter,
        _tree_from_storage_file,
        _tree_from_segment_tags,
    )
    for source in sources:
        try:
            tree = source(segmentation_node)
        except (SaltSegError, ValueError, KeyError, OSError) as error:
            logger.warning("ignoring an unreadable stored label tree: %s", error)
            continue
        if tree is not None:
            if not text:  # cache it where the scene will save it
                segmentation_node.SetAttribute(ATTRIBUTE_TREE, tree.to_json())
            return tree
    return None


def model_id_of(segmentation_node: "slicer.vtkMRMLSegmentationNode") -> str:
    value = segmentation_node.GetAttribute(ATTRIBUTE_MODEL_ID)
    if value:
        return value
    segmentation = segmentation_node.GetSegmentation()
    if segmentation.GetNumberOfSegments():
        return segment_tag(segmentation.GetNthSegment(0), TAG_MODEL_ID) or ""
    return ""
