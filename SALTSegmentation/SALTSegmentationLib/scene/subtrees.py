"""Operations on a subtree of the label tree, on a segmentation node: which segments belong to
it, show/hide it (batched: one display-node modification, so one render), tri-state query,
"show only", and merging it into one segment."""
from __future__ import annotations

from typing import Optional, Sequence, Union

import numpy as np
import slicer
from vtk.util import numpy_support
from saltseg.tree.colors import node_colors
from saltseg.io.writers import TAG_MODEL_ID, TAG_NODE_INDEX, TAG_TREE_PATH

from .mrml_helpers import BINARY_LABELMAP, segment_tag
from .tree_storage import load_tree, model_id_of

PathLike = Union[str, Sequence[str]]

VISIBLE, HIDDEN, PARTIAL, EMPTY = "visible", "hidden", "partial", "empty"


def _key(path: PathLike) -> tuple[str, ...]:
    return tuple(path.split(",")) if isinstance(path, str) else tuple(path)


def segment_paths(segmentation_node) -> dict[str, tuple[str, ...]]:
    """Segment ID → tree path, for segments that carry a SALT tree path tag."""
    segmentation = segmentation_node.GetSegmentation()
    paths = {}
    for index in range(segmentation.GetNumberOfSegments()):
        segment_id = segmentation.GetNthSegmentID(index)
        tag = segment_tag(segmentation.GetSegment(segment_id), TAG_TREE_PATH)
        if tag:
            paths[segment_id] = tuple(tag.split(","))
    return paths


def subtree_segment_ids(segmentation_node, path: PathLike) -> list[str]:
    """IDs of the segments at or below ``path`` (e.g. ``"body,bones,spine"``), in segment order."""
    prefix = _key(path)
    return [sid for sid, p in segment_paths(segmentation_node).items() if p[:len(prefix)] == prefix]


def _display_node(segmentation_node):
    display = segmentation_node.GetDisplayNode()
    if display is None:
        segmentation_node.CreateDefaultDisplayNodes()
        display = segmentation_node.GetDisplayNode()
    return display


def set_segments_visibility(segmentation_node, visibility: dict[str, bool]) -> None:
    """Apply many visibility changes as one display-node modification (one render)."""
    display = _display_node(segmentation_node)
    was_modifying = display.StartModify()
    try:
        for segment_id, visible in visibility.items():
            display.SetSegmentVisibility(segment_id, bool(visible))
    finally:
        display.EndModify(was_modifying)


def set_subtree_visibility(segmentation_node, path: PathLike, visible: bool) -> list[str]:
    """Show or hide every segment of the subtree; returns the IDs it changed."""
    ids = subtree_segment_ids(segmentation_node, path)
    set_segments_visibility(segmentation_node, {sid: visible for sid in ids})
    return ids


def subtree_visibility(segmentation_node, path: PathLike) -> str:
    """``visible``, ``hidden``, ``partial`` (mixed) or ``empty`` (no segment in the subtree)."""
    display = _display_node(segmentation_node)
    states = {bool(display.GetSegmentVisibility(sid)) for sid in subtree_segment_ids(segmentation_node, path)}
    if not states:
        return EMPTY
    if len(states) == 2:
        return PARTIAL
    return VISIBLE if states.pop() else HIDDEN


def show_only_subtree(segmentation_node, path: PathLike) -> None:
    inside = set(subtree_segment_ids(segmentation_node, path))
    segmentation = segmentation_node.GetSegmentation()
    all_ids = [segmentation.GetNthSegmentID(i) for i in range(segmentation.GetNumberOfSegments())]
    set_segments_visibility(segmentation_node, {sid: sid in inside for sid in all_ids})


def _binary_mask(segmentation_node, segment_id: str, reference) -> np.ndarray:
    """The segment as a boolean array on ``reference``'s grid (k, j, i)."""
    image = slicer.vtkOrientedImageData()
    segmentation_node.GetBinaryLabelmapRepresentation(segment_id, image)
    resampled = slicer.vtkOrientedImageData()
    slicer.vtkOrientedImageDataResample.ResampleOrientedImageToReferenceOrientedImage(
        image, reference, resampled, False, True)
    dims = resampled.GetDimensions()
    scalars = numpy_support.vtk_to_numpy(resampled.GetPointData().GetScalars())
    return scalars.reshape(dims[2], dims[1], dims[0]) > 0


def merge_question(segmentation_node, path: PathLike) -> Optional[str]:
    """What to ask before :func:`merge_subtree` removes the subtree's segments (None when it holds
    at most one: merging loses nothing then)."""
    ids = subtree_segment_ids(segmentation_node, path)
    if len(ids) < 2:
        return None
    key = _key(path)
    tree = load_tree(segmentation_node)
    name = tree.display_name(key) if tree is not None and key in set(tree.paths) else key[-1].replace("_", " ")
    segmentation = segmentation_node.GetSegmentation()
    names = [segmentation.GetSegment(sid).GetName() or sid for sid in ids]  # a segment may have no name
    listed = ", ".join(names[:6]) + (f" and {len(names) - 6} more" if len(names) > 6 else "")
    return (f"Merge the {len(ids)} segments under '{name}' ({listed}) into one segment? They are removed "
            "as separate segments, with any changes made to them, and this cannot be undone.")


def merge_subtree(segmentation_node, path: PathLike, remove_merged: bool = True,
                  name: Optional[str] = None) -> str:
    """Replace the segments of a subtree by one segment (e.g. the whole lumbar spine).

    The new segment's ID and tree-path tag are the subtree's node id, so the tree panel shows
    it in place of its former children. Returns the new segment ID.
    """
    key = _key(path)
    node_id = ",".join(key)
    ids = subtree_segment_ids(segmentation_node, key)
    if not ids:
        raise ValueError(f"no segment lies under {node_id!r}")
    segmentation = segmentation_node.GetSegmentation()
    reference = slicer.vtkOrientedImageData()
    segmentation_node.GetBinaryLabelmapRepresentation(ids[0], reference)
    for sid in ids[1:]:  # grow the reference to the union of the extents
        other = slicer.vtkOrientedImageData()
        segmentation_node.GetBinaryLabelmapRepresentation(sid, other)
        slicer.vtkOrientedImageDataResample.MergeImage(
            reference, other, reference, slicer.vtkOrientedImageDataResample.OPERATION_MAXIMUM)
    mask = np.zeros(reference.GetDimensions()[::-1], dtype=bool)
    for sid in ids:
        mask |= _binary_mask(segmentation_node, sid, reference)

    merged = slicer.vtkOrientedImageData()
    merged.DeepCopy(reference)
    merged.GetPointData().SetScalars(numpy_support.numpy_to_vtk(mask.astype(np.uint8).ravel(), deep=True))

    tree = load_tree(segmentation_node)
    if tree is not None and key in set(tree.paths):
        display_name, color, node_index = tree.display_name(key), node_colors(tree)[tree.index(key)], tree.index(key)
    else:
        display_name, color, node_index = key[-1].replace("_", " ").capitalize(), (0.8, 0.8, 0.8), None
    segment = slicer.vtkSegment()
    segment.SetName(name or display_name)
    segment.SetColor(*color)
    segment.AddRepresentation(BINARY_LABELMAP, merged)
    segment.SetTag(TAG_TREE_PATH, node_id)
    segment.SetTag(TAG_MODEL_ID, model_id_of(segmentation_node))
    if node_index is not None:
        segment.SetTag(TAG_NODE_INDEX, str(node_index))

    new_id = node_id if node_id not in ids else node_id + " (merged)"
    was_modifying = segmentation_node.StartModify()
    try:
        if remove_merged:
            for sid in ids:
                segmentation.RemoveSegment(sid)
            new_id = node_id
        if segmentation.GetSegment(new_id) is not None:
            segmentation.RemoveSegment(new_id)
        segmentation.AddSegment(segment, new_id)
    finally:
        segmentation_node.EndModify(was_modifying)
    return new_id


def segment_volumes_ml(segmentation_node) -> dict[str, float]:
    """Volume of every segment in mL; one histogram per shared labelmap layer, not per segment."""
    segmentation = segmentation_node.GetSegmentation()
    volumes: dict[str, float] = {}
    for layer in range(segmentation.GetNumberOfLayers()):
        image = segmentation.GetLayerDataObject(layer)
        scalars = image.GetPointData().GetScalars() if image is not None else None
        if scalars is None:
            continue
        counts = np.bincount(numpy_support.vtk_to_numpy(scalars).astype(np.int64).ravel())
        spacing = image.GetSpacing()
        voxel_ml = float(spacing[0] * spacing[1] * spacing[2]) / 1000.0
        for sid in segmentation.GetSegmentIDsForLayer(layer):
            label = segmentation.GetSegment(sid).GetLabelValue()
            volumes[sid] = float(counts[label]) * voxel_ml if label < len(counts) else 0.0
    return volumes


def segment_volume_ml(segmentation_node, segment_id: str) -> float:
    """Volume of one segment in mL: its voxels in its labelmap layer only (for one painted segment,
    instead of the histogram of every layer)."""
    segmentation = segmentation_node.GetSegmentation()
    segment = segmentation.GetSegment(segment_id)
    image = segment.GetRepresentation(BINARY_LABELMAP) if segment is not None else None
    scalars = image.GetPointData().GetScalars() if image is not None else None
    if scalars is None:
        return 0.0
    count = np.count_nonzero(numpy_support.vtk_to_numpy(scalars) == segment.GetLabelValue())
    spacing = image.GetSpacing()
    return float(count) * float(spacing[0] * spacing[1] * spacing[2]) / 1000.0


def refresh_tree_panel_model(segmentation_node, model, segment_ids: Optional[set] = None,
                             volume_node=None) -> Optional[set]:
    """Bring ``model`` up to date after segments were modified (e.g. painted in the Segment Editor):
    only their volumes are measured again (all of them when ``segment_ids`` is None), and the mean
    HUs when the model shows them and ``volume_node`` is the CT (a painted voxel moves the mean of
    its node and every ancestor; one pass over the voxels, after the burst). Returns the
    tree nodes whose shown numbers changed, or None when the tree's structure changed (a segment
    appeared, went or now stands for another node): then the panel is rebuilt."""
    segmentation = segmentation_node.GetSegmentation()
    if segment_ids is None:
        volumes = segment_volumes_ml(segmentation_node)
        segment_ids = set(volumes)
    else:
        volumes = {}
    changed: set = set()
    for segment_id in segment_ids:
        segment = segmentation.GetSegment(segment_id)
        if segment is None:
            return None
        tag = segment_tag(segment, TAG_TREE_PATH)
        path = tuple(tag.split(",")) if tag else None
        if not model.has_segment(segment_id):
            if path is not None and model.knows_path(path):
                return None  # now a tree structure: the panel shows a new node
            continue  # a user-added segment outside the tree
        if path != model.segment_path(segment_id):
            return None
        volume = volumes[segment_id] if segment_id in volumes else segment_volume_ml(segmentation_node, segment_id)
        changed |= model.set_volume(segment_id, volume)
    if changed and model.has_mean_hu and volume_node is not None and volume_node.GetImageData() is not None:
        from .statistics_table import panel_mean_hu

        changed |= model.set_mean_hu(panel_mean_hu(segmentation_node, volume_node, measure_again=True))
    return changed


def tree_panel_model(segmentation_node, volume_node=None):
    """The Qt-free tree panel model of ``segmentation_node``; None when it has no label tree.
    With ``volume_node`` (the CT) it also holds every node's mean HU."""
    from .tree_model import SegmentInfo, TreePanelModel

    tree = load_tree(segmentation_node)
    if tree is None:
        return None
    display = _display_node(segmentation_node)
    volumes = segment_volumes_ml(segmentation_node)
    infos = [SegmentInfo(sid, path, bool(display.GetSegmentVisibility(sid)), volumes.get(sid, 0.0))
             for sid, path in segment_paths(segmentation_node).items()]
    mean_hu = None
    if volume_node is not None and volume_node.GetImageData() is not None:
        from .statistics_table import panel_mean_hu

        mean_hu = panel_mean_hu(segmentation_node, volume_node)
    return TreePanelModel(tree, infos, mean_hu)
