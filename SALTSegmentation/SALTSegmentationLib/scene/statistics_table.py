"""Statistics of every tree node of a segmentation node, and their vtkMRMLTableNode.

The segments (leaves, or merged subtrees) are gathered into one labelmap on the CT volume's own
grid — one resampling per shared labelmap layer, not per segment — and handed to the engine's
one-pass statistics (:func:`saltseg.analysis.statistics.tree_statistics`), so internal nodes get
the statistics of their union.
"""
from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Optional, Sequence, Union

import numpy as np
import slicer
from vtk.util import numpy_support
from saltseg.analysis.statistics import COLUMNS, NodeStatistics, tree_statistics
from saltseg.analysis.tables import write_statistics
from saltseg.io.writers import TAG_TREE_PATH

from .labelmap_representation import ensure_binary_labelmap, labelmap_layers
from .mrml_helpers import oriented_image_from_array, segment_tag, sitk_from_volume
from .tree_storage import load_tree

logger = logging.getLogger(__name__)

ATTRIBUTE_SOURCE = "SALT.StatisticsOf"  # table node attribute: the segmentation's node ID
_UNITS = {"volume_ml": "mL", **{name: "HU" for name in COLUMNS if name.endswith("_hu")}}
_TITLES = {"node": "Tree path", "name": "Structure", "depth": "Depth", "leaf": "Leaf", "voxels": "Voxels",
           "volume_ml": "Volume", "mean_hu": "Mean", "std_hu": "Standard deviation", "median_hu": "Median",
           "min_hu": "Minimum", "max_hu": "Maximum", "p5_hu": "5th percentile", "p95_hu": "95th percentile"}


def _layer_array(image, reference) -> Optional[np.ndarray]:
    """A shared labelmap layer resampled (nearest neighbour) onto ``reference``'s grid, (k, j, i)."""
    if image is None or image.GetPointData().GetScalars() is None:
        return None
    resampled = slicer.vtkOrientedImageData()
    # Not padded: a layer reaching beyond the CT (a surface converted with a margin) would make
    # the output larger than the CT's grid.
    slicer.vtkOrientedImageDataResample.ResampleOrientedImageToReferenceOrientedImage(
        image, reference, resampled, False, False)
    dims = resampled.GetDimensions()
    return numpy_support.vtk_to_numpy(resampled.GetPointData().GetScalars()).reshape(dims[2], dims[1], dims[0])


def segmentation_labels(segmentation_node, volume_node, tree) -> tuple[np.ndarray, dict[int, int]]:
    """One code per segment on the volume's grid, and code → tree node (segments outside the tree
    are left out)."""
    ensure_binary_labelmap(segmentation_node, volume_node)
    segmentation = segmentation_node.GetSegmentation()
    dims = volume_node.GetImageData().GetDimensions()
    reference = oriented_image_from_array(np.zeros((dims[2], dims[1], dims[0]), np.uint8), volume_node)
    count = segmentation.GetNumberOfSegments()
    combined = np.zeros((dims[2], dims[1], dims[0]), np.uint16 if count >= 255 else np.uint8)
    known = {tree.node_id(i): i for i in range(len(tree))}
    label_nodes: dict[int, int] = {}
    code_of = {}
    for index in range(count):
        segment_id = segmentation.GetNthSegmentID(index)
        path = segment_tag(segmentation.GetSegment(segment_id), TAG_TREE_PATH)
        if path in known:
            code_of[segment_id] = len(label_nodes) + 1
            label_nodes[code_of[segment_id]] = known[path]
    for image, layer_ids in labelmap_layers(segmentation):
        ids = [sid for sid in layer_ids if sid in code_of]
        if not ids:
            continue
        array = _layer_array(image, reference)
        if array is None:
            continue
        for sid in ids:
            mask = array == segmentation.GetSegment(sid).GetLabelValue()
            if combined[mask].any():
                logger.warning("segment %s overlaps another segment; its overlapping voxels count for it only", sid)
            combined[mask] = code_of[sid]
    return combined, label_nodes


def reference_volume(segmentation_node):
    """The scalar volume the segmentation was made on (its reference geometry), or None."""
    if segmentation_node is None:
        return None
    role = slicer.vtkMRMLSegmentationNode.GetReferenceImageGeometryReferenceRole()
    volume = segmentation_node.GetNodeReference(role)
    if volume is None or not volume.IsA("vtkMRMLScalarVolumeNode") or volume.GetImageData() is None:
        return None
    return volume


def segmentation_statistics(segmentation_node, volume_node=None) -> list[NodeStatistics]:
    """Voxels, volume and the volume's intensity statistics of every tree node (leaves and
    internal nodes) of ``segmentation_node``, measured on ``volume_node``'s grid (default: the
    volume the segmentation was made on)."""
    if volume_node is None:
        volume_node = reference_volume(segmentation_node)
    if segmentation_node is None or volume_node is None or volume_node.GetImageData() is None:
        raise ValueError("give a segmentation and a CT volume with image data")
    tree = load_tree(segmentation_node)
    if tree is None:
        raise ValueError(f"{segmentation_node.GetName()!r} has no SALT label tree: segment with SALT first")
    labels, label_nodes = segmentation_labels(segmentation_node, volume_node, tree)
    image = sitk_from_volume(volume_node)
    import SimpleITK as sitk

    intensities = sitk.GetArrayViewFromImage(image)
    voxel_ml = float(np.prod(image.GetSpacing())) / 1000.0
    return tree_statistics(labels, intensities, tree, label_nodes, voxel_ml)


def _column(name: str, rows: Sequence[NodeStatistics]):
    import vtk

    values = [row.to_dict()[name] for row in rows]
    if name in ("node", "name"):
        array = vtk.vtkStringArray()
        for value in values:
            array.InsertNextValue(str(value))
    elif name in ("depth", "leaf", "voxels"):
        array = vtk.vtkLongLongArray() if name == "voxels" else vtk.vtkIntArray()
        for value in values:
            array.InsertNextValue(int(value))
    else:
        array = vtk.vtkDoubleArray()
        for value in values:
            array.InsertNextValue(math.nan if value is None else float(value))
    array.SetName(name)
    return array


def statistics_table_node(rows: Sequence[NodeStatistics], scene, name: str = "SALT statistics",
                          table_node=None, source=None):
    """A vtkMRMLTableNode with one row per tree node (created in ``scene`` unless given); empty
    nodes have NaN intensities. Shown in Slicer's table view and saved with the scene."""
    if table_node is None:
        table_node = scene.AddNewNodeByClass("vtkMRMLTableNode", name)
    was_modifying = table_node.StartModify()
    try:
        table = table_node.GetTable()
        table.Initialize()
        for column in COLUMNS:
            table.AddColumn(_column(column, rows))
        for column in COLUMNS:
            table_node.SetColumnTitle(column, _TITLES[column])
            if column in _UNITS:
                table_node.SetColumnUnitLabel(column, _UNITS[column])
        table_node.SetColumnDescription("node", "SALT tree path (the stable key)")
        table_node.SetUseColumnTitleAsColumnHeader(True)
        table_node.SetLocked(True)  # measurements, not something to edit
        if source is not None:
            table_node.SetAttribute(ATTRIBUTE_SOURCE, source.GetID())
        table_node.Modified()
    finally:
        table_node.EndModify(was_modifying)
    return table_node


def write_statistics_csv(rows: Sequence[NodeStatistics], path: Union[str, Path]) -> Path:
    """The rows as the CLI writes them (``.csv`` or ``.json``), atomically."""
    return write_statistics(rows, path)
