"""Importing a SALT result into real MRML (slicer-core wheel) and working with its label tree:
segments, names, colours, tags, terminology, tree storage, subject hierarchy, reference geometry,
subtree visibility (tri-state, batched), merge, and the .seg.nrrd round trip."""
from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
import slicer
import vtk

from slicer_test_support import load_ct, new_scene, published_tree, reference_result, segment_mask  # noqa: F401

from SALTSegmentationLib.scene.importer import import_result
from SALTSegmentationLib.scene.mrml_helpers import segment_tag
from SALTSegmentationLib.scene.tree_storage import load_tree
from SALTSegmentationLib.scene.subtrees import (merge_subtree, segment_volumes_ml, set_subtree_visibility,
                                          show_only_subtree, subtree_segment_ids, subtree_visibility,
                                          tree_panel_model)
from SALTSegmentationLib.scene.terminology import TERMINOLOGY_TAG, terminology_entry
from SALTSegmentationLib.scene.tree_model import CheckState
from saltseg.io.writers import TAG_LABEL_VALUE, TAG_MODEL_ID, TAG_NODE_INDEX, TAG_TREE_PATH

LUMBAR = "body,bones,spine,lumbar_spine"


@pytest.fixture()
def imported(published_tree):
    scene = new_scene()
    volume = load_ct(scene)
    sh = slicer.vtkMRMLSubjectHierarchyNode.GetSubjectHierarchyNode(scene)
    study = sh.CreateStudyItem(sh.CreateSubjectItem(sh.GetSceneItemID(), "Patient"), "Study")
    sh.SetItemParent(sh.CreateItem(sh.GetSceneItemID(), volume), study)
    result = reference_result(published_tree)
    segmentation = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "CT segmentation")
    segmentation.CreateDefaultDisplayNodes()
    import_result(result, segmentation, volume)
    return scene, volume, segmentation, result, study


def segment_ids(segmentation_node) -> list[str]:
    seg = segmentation_node.GetSegmentation()
    return [seg.GetNthSegmentID(i) for i in range(seg.GetNumberOfSegments())]


def test_one_segment_per_present_leaf_with_name_colour_tags(imported):
    scene, volume, segmentation, result, _ = imported
    entries = result.label_table()
    assert len(entries) >= 30  # real anatomy: vertebrae, ribs, organs
    assert segment_ids(segmentation) == [e.node_id for e in entries]
    for entry in entries:
        segment = segmentation.GetSegmentation().GetSegment(entry.node_id)
        assert segment.GetName() == entry.name
        assert segment.GetColor() == pytest.approx(entry.color, abs=1e-6)
        assert segment_tag(segment, TAG_TREE_PATH) == entry.node_id
        assert segment_tag(segment, TAG_NODE_INDEX) == str(entry.node)
        assert segment_tag(segment, TAG_LABEL_VALUE) == str(entry.value)
        assert segment_tag(segment, TAG_MODEL_ID) == "totalseg-reference"
    liver = segmentation.GetSegmentation().GetSegment("body,abdominal_cavity,liver")
    assert liver.GetName() == "Liver"
    assert "SCT^10200004^Liver" in segment_tag(liver, TERMINOLOGY_TAG)
    kidney = segmentation.GetSegmentation().GetSegment("body,abdominal_cavity,kidneys,kidney_left")
    assert "SCT^64033007^Kidney~SCT^7771000^Left" in segment_tag(kidney, TERMINOLOGY_TAG)
    # No code for "other" groups: they keep their name and get no (wrong) terminology.
    assert terminology_entry(("body", "muscles", "other")) is None


def test_voxels_land_on_the_volume_grid_in_the_right_place(imported):
    scene, volume, segmentation, result, _ = imported
    expected = sitk.GetArrayFromImage(result.labelmap)
    for node_id in ("body,abdominal_cavity,liver", "body,abdominal_cavity,kidneys,kidney_right",
                    "body,bones,spine,lumbar_spine,vertebrae_L2"):
        value = result.tree.label_value(node_id)
        mask = segment_mask(segmentation, node_id, volume)
        assert mask.shape == expected.shape
        assert np.array_equal(mask > 0, expected == value), node_id
    # The liver lies on the patient's right, the spleen on the left (RAS: +x is the patient's right).
    liver = segmentation.GetSegmentCenterRAS("body,abdominal_cavity,liver")
    spleen = segmentation.GetSegmentCenterRAS("body,abdominal_cavity,spleen")
    assert liver[0] > spleen[0] + 50


def test_reference_geometry_subject_hierarchy_and_tree_are_stored(imported, published_tree):
    scene, volume, segmentation, result, study = imported
    assert segmentation.GetNodeReference(segmentation.GetReferenceImageGeometryReferenceRole()) is volume
    sh = slicer.vtkMRMLSubjectHierarchyNode.GetSubjectHierarchyNode(scene)
    assert sh.GetItemParent(sh.GetItemByDataNode(segmentation)) == study
    tree = load_tree(segmentation)
    assert tree == published_tree and len(tree) == 145  # internal nodes included
    assert segmentation.GetAttribute("SALT.ModelId") == "totalseg-reference"


def test_subtree_visibility_is_tri_state_and_one_display_modification(imported):
    scene, volume, segmentation, result, _ = imported
    lumbar = subtree_segment_ids(segmentation, LUMBAR)
    assert lumbar == [f"{LUMBAR},vertebrae_L1", f"{LUMBAR},vertebrae_L2"]  # the scan ends at L2
    display = segmentation.GetDisplayNode()
    modified = []
    tag = display.AddObserver(vtk.vtkCommand.ModifiedEvent, lambda *a: modified.append(1))
    changed = set_subtree_visibility(segmentation, "body", False)
    display.RemoveObserver(tag)
    assert len(changed) == len(segment_ids(segmentation)) and len(modified) == 1  # one render, not 40
    assert subtree_visibility(segmentation, "body") == "hidden"
    set_subtree_visibility(segmentation, LUMBAR, True)
    assert subtree_visibility(segmentation, LUMBAR) == "visible"
    assert subtree_visibility(segmentation, "body,bones,spine") == "partial"
    assert subtree_visibility(segmentation, "body,bones,rib_cage") == "hidden"
    assert subtree_visibility(segmentation, "body,brain") == "empty"  # not in this scan
    assert display.GetSegmentVisibility(f"{LUMBAR},vertebrae_L1")
    assert not display.GetSegmentVisibility("body,abdominal_cavity,liver")
    show_only_subtree(segmentation, "body,abdominal_cavity,kidneys")
    visible = [sid for sid in segment_ids(segmentation) if display.GetSegmentVisibility(sid)]
    assert visible == subtree_segment_ids(segmentation, "body,abdominal_cavity,kidneys")


def test_tree_panel_model_from_the_node_sums_real_volumes(imported):
    scene, volume, segmentation, result, _ = imported
    model = tree_panel_model(segmentation)
    volumes = segment_volumes_ml(segmentation)
    voxel_ml = 3.0 * 3.0 * 3.0 / 1000.0
    liver_voxels = int((sitk.GetArrayFromImage(result.labelmap) == result.tree.label_value(
        "body,abdominal_cavity,liver")).sum())
    assert volumes["body,abdominal_cavity,liver"] == pytest.approx(liver_voxels * voxel_ml)
    lumbar = model.tree.index(LUMBAR)
    assert model.volume_ml(lumbar) == pytest.approx(sum(volumes[s] for s in subtree_segment_ids(segmentation, LUMBAR)))
    set_subtree_visibility(segmentation, f"{LUMBAR},vertebrae_L1", False)
    assert tree_panel_model(segmentation).check_state(lumbar) == CheckState.PARTIAL


def test_merge_subtree_makes_one_segment_with_the_union(imported):
    scene, volume, segmentation, result, _ = imported
    parts = subtree_segment_ids(segmentation, LUMBAR)
    union = sum(int(segment_mask(segmentation, s, volume).astype(bool).sum())
                for s in parts)
    merged = merge_subtree(segmentation, LUMBAR)
    assert merged == LUMBAR
    assert subtree_segment_ids(segmentation, LUMBAR) == [LUMBAR]  # the parts are gone
    segment = segmentation.GetSegmentation().GetSegment(merged)
    assert segment.GetName() == result.tree.display_name(LUMBAR)
    assert segment_tag(segment, TAG_TREE_PATH) == LUMBAR
    assert int(segment_mask(segmentation, merged, volume).astype(bool).sum()) == union
    model = tree_panel_model(segmentation)  # the panel shows the merged segment at the lumbar node
    assert model.segment_for(model.tree.index(LUMBAR)) == LUMBAR
    assert "body,bones,spine,thoracic_spine,vertebrae_T12" in segment_ids(segmentation)


def _read_segmentation(path):
    """Load like Slicer's "Add data"; returns (scene, node): the scene must outlive the node."""
    scene = new_scene()
    node = scene.AddNewNodeByClass("vtkMRMLSegmentationNode")
    storage = scene.AddNewNodeByClass("vtkMRMLSegmentationStorageNode")
    storage.SetFileName(str(path))
    node.SetAndObserveStorageNodeID(storage.GetID())
    assert storage.ReadData(node)
    node.CreateDefaultDisplayNodes()
    return scene, node


def test_seg_nrrd_round_trip_keeps_the_tree(imported, tmp_path, published_tree):
    scene, volume, segmentation, result, _ = imported
    set_subtree_visibility(segmentation, LUMBAR, False)
    storage = scene.AddNewNodeByClass("vtkMRMLSegmentationStorageNode")
    storage.SetFileName(str(tmp_path / "ct.seg.nrrd"))
    assert storage.WriteData(segmentation)

    _, loaded = _read_segmentation(tmp_path / "ct.seg.nrrd")
    assert loaded.GetAttribute("SALT.LabelTree") is None  # the tree came from the file itself
    assert load_tree(loaded) == published_tree
    assert segment_ids(loaded) == segment_ids(segmentation)
    for sid in segment_ids(segmentation):
        before, after = segmentation.GetSegmentation().GetSegment(sid), loaded.GetSegmentation().GetSegment(sid)
        assert after.GetName() == before.GetName()
        assert after.GetColor() == pytest.approx(before.GetColor(), abs=1e-4)
        assert segment_tag(after, TAG_TREE_PATH) == sid
    assert subtree_segment_ids(loaded, LUMBAR) == subtree_segment_ids(segmentation, LUMBAR)
    assert tree_panel_model(loaded).volume_ml(published_tree.index("body")) == pytest.approx(
        tree_panel_model(segmentation).volume_ml(published_tree.index("body")))


def test_cli_written_seg_nrrd_shows_its_tree(tmp_path, published_tree):
    from saltseg.io.writers import write_seg_nrrd

    result = reference_result(published_tree)
    path = write_seg_nrrd(result.labelmap, tmp_path / "cli.seg.nrrd", published_tree, "cli-model")
    _, loaded = _read_segmentation(path)
    assert load_tree(loaded) == published_tree  # from the SALT_LabelTree header field
    assert subtree_segment_ids(loaded, LUMBAR) == [f"{LUMBAR},vertebrae_L1", f"{LUMBAR},vertebrae_L2"]


def test_scene_save_and_load_keeps_the_tree(imported, tmp_path, published_tree):
    scene, volume, segmentation, result, _ = imported
    storage = scene.AddNewNodeByClass("vtkMRMLSegmentationStorageNode")
    storage.SetFileName(str(tmp_path / "seg.seg.nrrd"))
    segmentation.SetAndObserveStorageNodeID(storage.GetID())
    assert storage.WriteData(segmentation)
    scene.SetURL(str(tmp_path / "scene.mrml"))
    scene.Commit()

    reloaded = slicer.vtkMRMLScene()
    reloaded.SetURL(str(tmp_path / "scene.mrml"))
    reloaded.Connect()
    node = reloaded.GetFirstNodeByName("CT segmentation")
    assert node is not None and node.GetAttribute("SALT.LabelTree")
    assert load_tree(node) == published_tree


@pytest.mark.parametrize("path, code, modifier", [
    ("body,bones,rib_cage,rib_cage_left,rib_left_3", "SCT^25888004^Third rib", "SCT^7771000^Left"),
    ("body,thoracic_cavity,lungs,lung_right,lung_middle_lobe_right", "SCT^72481006^Middle lobe of right lung",
     "SCT^24028007^Right"),
    ("body,thoracic_cavity,mediastinum,pericardium,heart_atrium_left", "SCT^82471001^Left atrium", "^^"),
    ("body,bones,spine,lumbar_spine,vertebrae_L1", "SCT^66794005^L1 vertebra", "^^"),
])
def test_terminology_entries_use_snomed_with_laterality(path, code, modifier):
    fields = terminology_entry(tuple(path.split(","))).split("~")
    assert fields[0] == "SALT Segmentation category and type"  # the module's own terminology file
    assert fields[1] == "SCT^123037004^Anatomical Structure"
    assert fields[2:4] == [code, modifier]
