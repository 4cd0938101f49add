"""Segmentations whose source representation is not a labelmap (an RT Structure Set's closed
surfaces or planar contours, shown with *Show as label tree*): the panel, the statistics and
merging work on a binary labelmap made on the segmentation's reference geometry — right numbers,
never polydata read as voxels — and a segmentation that cannot be converted is refused with a clear
message, keeping every segment. Real MRML."""
from __future__ import annotations

import pytest
import slicer
import vtk

from editing_support import LIVER, editing_scene, panel_numbers, panel_sync
from slicer_test_support import new_scene, published_tree, require_shared_data  # noqa: F401

from saltseg.io.writers import TAG_TREE_PATH
from SALTSegmentationLib.scene.labelmap_representation import SegmentationRepresentationError
from SALTSegmentationLib.scene.logic_core import SegmentationLogicCore
from SALTSegmentationLib.scene.subtrees import merge_subtree, segment_volumes_ml
from SALTSegmentationLib.scene.tree_storage import store_tree

KIDNEYS = "body,abdominal_cavity,kidneys"
KEPT = (",".join(LIVER), "body,abdominal_cavity,spleen", KIDNEYS + ",kidney_left", KIDNEYS + ",kidney_right")


@pytest.fixture()
def surfaces(published_tree):
    """A SALT result turned into a closed-surface segmentation (as an RT Structure Set loads)."""
    require_shared_data()
    editing = editing_scene(published_tree)
    node, segmentation = editing.segmentation, editing.segmentation.GetSegmentation()
    for segment_id in [segmentation.GetNthSegmentID(i) for i in range(segmentation.GetNumberOfSegments())]:
        if segment_id not in KEPT:
            segmentation.RemoveSegment(segment_id)
    labelmap_volumes = segment_volumes_ml(node)
    assert node.CreateClosedSurfaceRepresentation()
    segmentation.SetSourceRepresentationName("Closed surface")
    segmentation.RemoveRepresentation("Binary labelmap")
    assert not segmentation.ContainsRepresentation("Binary labelmap")
    return editing, labelmap_volumes


def test_closed_surfaces_are_measured_on_a_labelmap_of_their_reference_geometry(surfaces):
    editing, labelmap_volumes = surfaces
    sync, drawing, _ = panel_sync()
    sync.enter()
    sync.set_segmentation(editing.segmentation)
    assert drawing.errors == []
    shown = panel_numbers(sync.model)
    rows = {row.node: row for row in SegmentationLogicCore().statistics(editing.segmentation, editing.volume)}
    for node in KEPT:
        volume, mean_hu = shown[node]
        assert volume == pytest.approx(labelmap_volumes[node], rel=0.05), node  # the surfaces' round trip
        assert volume == pytest.approx(rows[node].volume_ml, rel=1e-12), node  # the table's numbers
        assert mean_hu == pytest.approx(rows[node].mean_hu, rel=1e-12), node
    assert editing.segmentation.GetSegmentation().GetSourceRepresentationName() == "Closed surface"


def test_merging_closed_surfaces_keeps_their_voxels(surfaces):
    editing, _ = surfaces
    before = segment_volumes_ml(editing.segmentation)
    merged = merge_subtree(editing.segmentation, KIDNEYS)
    after = segment_volumes_ml(editing.segmentation)
    assert set(after) == {",".join(LIVER), "body,abdominal_cavity,spleen", merged}
    assert after[merged] == pytest.approx(before[KIDNEYS + ",kidney_left"] + before[KIDNEYS + ",kidney_right"],
                                          rel=1e-9)


def planar_contours(published_tree):
    """Segments known only as planar contours: without SlicerRT's rules nothing converts them."""
    scene = new_scene()
    node = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "RTSTRUCT")
    node.CreateDefaultDisplayNodes()
    segmentation = node.GetSegmentation()
    segmentation.SetSourceRepresentationName("Planar contour")
    for path in (KIDNEYS + ",kidney_left", KIDNEYS + ",kidney_right"):
        sphere = vtk.vtkSphereSource()
        sphere.SetRadius(20.0)
        sphere.Update()
        segment = slicer.vtkSegment()
        segment.SetName(path.rsplit(",", 1)[1])
        segment.AddRepresentation("Planar contour", sphere.GetOutput())
        segment.SetTag(TAG_TREE_PATH, path)
        segmentation.AddSegment(segment, path)
    store_tree(node, published_tree)
    return node


def test_a_segmentation_that_cannot_become_a_labelmap_is_refused_and_keeps_its_segments(published_tree):
    require_shared_data()
    node = planar_contours(published_tree)
    sync, drawing, _ = panel_sync()
    sync.enter()
    sync.set_segmentation(node)
    assert len(drawing.errors) == 1 and "cannot be converted to a binary labelmap" in drawing.errors[0]
    with pytest.raises(SegmentationRepresentationError, match="'RTSTRUCT' \\(Planar contour\\) cannot be converted"):
        merge_subtree(node, KIDNEYS)
    segmentation = node.GetSegmentation()
    assert [segmentation.GetNthSegmentID(i) for i in range(segmentation.GetNumberOfSegments())] == [
        KIDNEYS + ",kidney_left", KIDNEYS + ",kidney_right"]
