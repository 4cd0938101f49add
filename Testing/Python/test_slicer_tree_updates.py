"""The tree panel under the Segment Editor: a burst of ``SegmentModified`` events (one per stroke)
costs one update, and that update measures only the painted segment, giving the same numbers as
a full rebuild; segments added, removed or re-tagged still rebuild the panel. Real MRML."""
from __future__ import annotations

import pytest
from vtk.util import numpy_support

from slicer_test_support import load_ct, new_scene, published_tree, reference_result, require_shared_data  # noqa: F401

from saltseg.io.writers import TAG_TREE_PATH
from SALTSegmentationLib.scene.importer import import_result
from SALTSegmentationLib.scene.segmentation_watcher import SegmentationWatcher, TreeUpdateBatcher
from SALTSegmentationLib.scene.subtrees import refresh_tree_panel_model, subtree_segment_ids, tree_panel_model


@pytest.fixture()
def segmented(published_tree):
    require_shared_data()
    scene = new_scene()
    volume = load_ct(scene)
    node = scene.AddNewNodeByClass("vtkMRMLSegmentationNode")
    node.CreateDefaultDisplayNodes()
    import_result(reference_result(published_tree), node, volume)
    return scene, node


def paint(node, segment_id: str, voxels: int) -> None:
    """What a Segment Editor stroke does: background voxels of the shared layer get the label."""
    segment = node.GetSegmentation().GetSegment(segment_id)
    image = segment.GetRepresentation("Binary labelmap")
    values = numpy_support.vtk_to_numpy(image.GetPointData().GetScalars())
    free = (values == 0).nonzero()[0][:voxels]
    values[free] = segment.GetLabelValue()
    image.Modified()


def test_a_burst_of_strokes_is_one_update_of_the_painted_segment(segmented):
    scene, node = segmented
    scheduled, rebuilds, updates = [], [], []
    batcher = TreeUpdateBatcher(lambda: scheduled.append(1), lambda: rebuilds.append(1), updates.append)
    watcher = SegmentationWatcher(batcher.structure_changed, lambda: None, batcher.segment_modified)
    watcher.watch(node)
    (liver,) = subtree_segment_ids(node, "body,abdominal_cavity,liver")
    segment = node.GetSegmentation().GetSegment(liver)
    for _ in range(100):
        segment.Modified()  # one SegmentModified per stroke
    assert len(scheduled) == 100 and rebuilds == [] and updates == []  # nothing done inside the events
    batcher.flush()  # the timer fires once the burst is over
    assert updates == [{liver}] and rebuilds == []
    batcher.flush()
    assert updates == [{liver}]  # nothing pending any more
    node.GetSegmentation().AddEmptySegment("my notes")
    segment.Modified()
    batcher.flush()
    assert rebuilds == [1] and updates == [{liver}]  # an added segment wins: one rebuild
    watcher.stop()


def test_every_segment_editor_stroke_reaches_the_panel(segmented):
    # Strokes go through SetBinaryLabelmapToSegment (vtkSegmentationModifier); after a segment's
    # first stroke they send SourceRepresentationModified only, never SegmentModified.
    import slicer

    scene, node = segmented
    updates = []
    batcher = TreeUpdateBatcher(lambda: None, lambda: None, updates.append)
    watcher = SegmentationWatcher(batcher.structure_changed, lambda: None, batcher.segment_modified)
    watcher.watch(node)
    (liver,) = subtree_segment_ids(node, "body,abdominal_cavity,liver")
    logic = slicer.vtkSlicerSegmentationsModuleLogic
    for stroke_number in range(3):
        stroke = slicer.vtkOrientedImageData()
        logic.GetSegmentBinaryLabelmapRepresentation(node, liver, stroke)
        values = numpy_support.vtk_to_numpy(stroke.GetPointData().GetScalars())
        values[(values == 0).nonzero()[0][:200]] = 1
        stroke.Modified()
        logic.SetBinaryLabelmapToSegment(stroke, node, liver, logic.MODE_MERGE_MAX)
        batcher.flush()
        assert len(updates) == stroke_number + 1, f"stroke {stroke_number + 1} did not reach the panel"
        assert updates[-1] is None or liver in updates[-1]  # None: measure every segment again
    watcher.stop()


def test_updating_the_painted_segment_gives_the_numbers_of_a_full_rebuild(segmented):
    scene, node = segmented
    model = tree_panel_model(node)
    (liver,) = subtree_segment_ids(node, "body,abdominal_cavity,liver")
    liver_node = model.tree.index(("body", "abdominal_cavity", "liver"))
    before = model.volume_ml(liver_node)
    paint(node, liver, 5000)
    changed = refresh_tree_panel_model(node, model, {liver})
    assert changed == {liver_node, *model.tree.ancestors(liver_node)}
    assert model.volume_ml(liver_node) > before
    fresh = tree_panel_model(node)
    assert {n: round(model.volume_ml(n), 6) for n in model.shown_nodes()} == \
           {n: round(fresh.volume_ml(n), 6) for n in fresh.shown_nodes()}
    assert refresh_tree_panel_model(node, model, {liver}) == set()  # nothing changed since


def test_painting_updates_the_mean_hu_of_the_painted_node_and_its_ancestors(segmented):
    scene, node = segmented
    volume = scene.GetFirstNodeByClass("vtkMRMLScalarVolumeNode")
    model = tree_panel_model(node, volume)
    (liver,) = subtree_segment_ids(node, "body,abdominal_cavity,liver")
    liver_node = model.tree.index(("body", "abdominal_cavity", "liver"))
    before = model.mean_hu(liver_node)
    paint(node, liver, 5000)  # background voxels: air and fat, far below the liver's HU
    changed = refresh_tree_panel_model(node, model, {liver}, volume)
    assert {liver_node, *model.tree.ancestors(liver_node)} <= changed
    assert model.mean_hu(liver_node) < before
    fresh = tree_panel_model(node, volume)
    assert {n: round(model.mean_hu(n), 6) for n in model.shown_nodes()} == \
           {n: round(fresh.mean_hu(n), 6) for n in fresh.shown_nodes()}


def test_a_segment_standing_for_another_node_or_removed_asks_for_a_rebuild(segmented):
    scene, node = segmented
    model = tree_panel_model(node)
    (liver,) = subtree_segment_ids(node, "body,abdominal_cavity,liver")
    segment = node.GetSegmentation().GetSegment(liver)
    segment.SetTag(TAG_TREE_PATH, "body,abdominal_cavity,spleen")
    assert refresh_tree_panel_model(node, model, {liver}) is None
    node.GetSegmentation().RemoveSegment(liver)
    assert refresh_tree_panel_model(node, model, {liver}) is None
