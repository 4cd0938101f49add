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

from .labelmap_representation import SegmentationRepresentationError, ensure_binary_labelmap
from .mrml_helpers import BINARY_LABELMAP, segment_tag
from .segment_measurements import SegmentMeasurement, SegmentMeasurements
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


def _binary_mask(image, reference) -> np.ndarray:
    """A segment's 0/1 labelmap as a boolean array on ``reference``'s grid (k, j, i)."""
    resampled = slicer.vtkOrientedImageData()
    slicer.vtkOrientedImageDataResample.ResampleOrientedImageToReferenceOrientedImage(
        image, reference, resampled, False, True)
    dims = resampled.GetDimensions()
    scalars = numpy_support.vtk_to_numpy(resampled.GetPointData().GetScalars())
    return scalars.reshape(dims[2], dims[1], dims[0]) > 0


def _segment_labelmaps(segmentation_node, ids: Sequence[str]) -> dict:
    """Each segment as a 0/1 labelmap; refuses (before anything changes) where one has none."""
    ensure_binary_labelmap(segmentation_node)
    segmentation = segmentation_node.GetSegmentation()
    images = {}
    for sid in ids:
        image = slicer.vtkOrientedImageData()
        if not segmentation_node.GetBinaryLabelmapRepresentation(sid, image) \
                or image.GetPointData().GetScalars() is None:
            name = segmentation.GetSegment(sid).GetName() or sid
            raise SegmentationRepresentationError(f"segment {name!r} has no binary labelmap to merge; "
                                                  "nothing was merged")
        images[sid] = image
    return images


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
    images = _segment_labelmaps(segmentation_node, ids)
    reference = slicer.vtkOrientedImageData()
    reference.DeepCopy(images[ids[0]])
    for sid in ids[1:]:  # grow the reference to the union of the extents
        slicer.vtkOrientedImageDataResample.MergeImage(
            reference, images[sid], reference, slicer.vtkOrientedImageDataResample.OPERATION_MAXIMUM)
    mask = np.zeros(reference.GetDimensions()[::-1], dtype=bool)
    for sid in ids:
        mask |= _binary_mask(images[sid], reference)

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
    """Volume of every segment in mL, on its labelmap layer's grid (one count per layer)."""
    return {sid: m.volume_ml for sid, m in SegmentMeasurements().measure(segmentation_node).items()}


def _structure_changed(model, paths: dict[str, tuple[str, ...]], segment_ids: Optional[set]) -> bool:
    """Whether the panel must be rebuilt: a segment of the tree appeared or went, or a segment
    now stands for another node (``segment_ids``: the segments to check; None: all)."""
    if segment_ids is None:
        in_tree = {sid: path for sid, path in paths.items() if model.knows_path(path)}
        return in_tree != model.segment_paths()
    for segment_id in segment_ids:
        path = paths.get(segment_id)
        if not model.has_segment(segment_id):
            if path is not None and model.knows_path(path):
                return True  # now a tree structure: the panel shows a new node
            continue  # a user-added segment outside the tree (or one already gone)
        if path != model.segment_path(segment_id):
            return True
    return False


def refresh_tree_panel_model(segmentation_node, model, segment_ids: Optional[set] = None, volume_node=None,
                             measurements: Optional[SegmentMeasurements] = None) -> Optional[set]:
    """Bring ``model`` up to date after segments were modified (e.g. painted in the Segment Editor):
    the measurements are renewed where the layers changed (``measurements``: the panel's own, kept
    between calls so only changed slices are counted again; a new one measures everything, on
    ``volume_node``'s grid when the model shows mean HUs). Every segment's numbers are renewed: a
    stroke also takes voxels from the segments it overwrites, which Slicer does not report.
    Returns the tree nodes whose shown numbers changed, or None when the tree's structure changed
    (``segment_ids``: the segments reported modified; None: check all): then the panel is rebuilt."""
    paths = segment_paths(segmentation_node)
    if segment_ids is not None and any(segmentation_node.GetSegmentation().GetSegment(sid) is None
                                       for sid in segment_ids):
        return None
    if _structure_changed(model, paths, segment_ids):
        return None
    if measurements is None:
        measurements = SegmentMeasurements(volume_node if model.has_mean_hu else None)
    measured = measurements.measure(segmentation_node)
    changed: set = set()
    for segment_id in model.segment_paths():
        value = measured.get(segment_id, SegmentMeasurement(0, 0.0, 0.0 if model.has_mean_hu else None))
        changed |= model.set_measurement(segment_id, value.volume_ml, value.voxels, value.hu_sum)
    return changed


def tree_panel_model(segmentation_node, volume_node=None, measurements: Optional[SegmentMeasurements] = None):
    """The Qt-free tree panel model of ``segmentation_node``; None when it has no label tree.
    With ``volume_node`` (the CT) it also holds every node's mean HU, and the volumes are counted
    on the CT's grid. ``measurements``: the panel's own (see :func:`refresh_tree_panel_model`)."""
    from .tree_model import SegmentInfo, TreePanelModel

    tree = load_tree(segmentation_node)
    if tree is None:
        return None
    with_ct = volume_node is not None and volume_node.GetImageData() is not None
    if measurements is None:
        measurements = SegmentMeasurements(volume_node if with_ct else None)
    measured = measurements.measure(segmentation_node)
    display = _display_node(segmentation_node)
    infos = []
    for sid, path in segment_paths(segmentation_node).items():
        value = measured.get(sid, SegmentMeasurement(0, 0.0, 0.0 if with_ct else None))
        infos.append(SegmentInfo(sid, path, bool(display.GetSegmentVisibility(sid)), value.volume_ml,
                                 value.voxels, value.hu_sum))
    return TreePanelModel(tree, infos, with_mean_hu=with_ct)
