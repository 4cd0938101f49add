"""The engine's probability maps become scalar volumes of their segmentation (real MRML, map files
written by the engine's own writer): the stored values as the engine wrote them, linked to the
segmentation and kept in a folder under it, and gone with the result — replaced by a new run,
removed with the segmentation — leaving nothing behind."""
from __future__ import annotations

import numpy as np
import pytest
import slicer
import vtk

from slicer_test_support import load_ct, new_scene, published_tree, reference_result, scene_snapshot  # noqa: F401
from slicer_probability_support import SPINE, scene_with_maps, write_map_files
from SALTSegmentationLib.scene.importer import import_result
from SALTSegmentationLib.scene.probability_colors import COLOR_NODE_NAME
from SALTSegmentationLib.scene.probability_maps import (FOLDER_NAME, MapOwnerWatch, confidence_map, map_nodes,
                                                        map_scale, map_voxels, node_maps, read_maps, remove_maps,
                                                        replace_maps)


HEAT_COLORS = ("vtkMRMLColorTableNode", COLOR_NODE_NAME)


@pytest.fixture
def maps(tmp_path, published_tree):
    return scene_with_maps(tmp_path, published_tree)


def test_confidence_map_holds_the_engines_bytes(maps):
    np.testing.assert_array_equal(map_voxels(confidence_map(maps.segmentation)), maps.confidence)


def test_node_map_holds_the_engines_bytes(maps):
    np.testing.assert_array_equal(map_voxels(node_maps(maps.segmentation)[SPINE]), maps.node_maps[SPINE])


def test_maps_stay_uint8_with_their_scale(maps):
    confidence = confidence_map(maps.segmentation)
    assert map_voxels(confidence).dtype == np.uint8
    assert map_scale(confidence) == pytest.approx(1 / 255)


def _matrix(node) -> np.ndarray:
    matrix = vtk.vtkMatrix4x4()
    node.GetIJKToRASMatrix(matrix)
    return np.array([[matrix.GetElement(r, c) for c in range(4)] for r in range(4)])


def test_maps_lie_on_the_cts_grid(maps):
    np.testing.assert_allclose(_matrix(confidence_map(maps.segmentation)), _matrix(maps.ct))


def test_maps_are_named_after_the_segmentation_and_structure(maps):
    names = sorted(node.GetName() for node in map_nodes(maps.segmentation))
    assert names == ["CT segmentation confidence", "CT segmentation probability: Spine"]


def test_maps_sit_in_a_collapsed_folder_under_the_segmentation(maps):
    sh = slicer.vtkMRMLSubjectHierarchyNode.GetSubjectHierarchyNode(maps.scene)
    folders = {sh.GetItemParent(sh.GetItemByDataNode(node)) for node in map_nodes(maps.segmentation)}
    assert len(folders) == 1
    folder = folders.pop()
    assert sh.GetItemName(folder) == FOLDER_NAME
    assert sh.GetItemParent(folder) == sh.GetItemByDataNode(maps.segmentation)
    assert not sh.GetItemExpanded(folder)


def test_maps_show_as_a_heat_map_over_the_ct(maps):
    display = confidence_map(maps.segmentation).GetDisplayNode()
    assert display.GetColorNode().GetName() == "SALT probability"
    assert (display.GetWindowLevelMin(), display.GetWindowLevelMax()) == (0.0, 255.0)
    assert display.GetApplyThreshold() and display.GetLowerThreshold() == 1.0  # probability 0: transparent


def test_maps_survive_saving_and_reloading_the_scene(maps, tmp_path):
    for node in map_nodes(maps.segmentation):
        node.AddDefaultStorageNode()
        node.GetStorageNode().SetFileName(str(tmp_path / f"{node.GetID()}.nrrd"))
        assert node.GetStorageNode().WriteData(node)
    maps.scene.SetURL(str(tmp_path / "scene.mrml"))
    assert maps.scene.Commit()
    loaded = new_scene()
    loaded.SetURL(str(tmp_path / "scene.mrml"))
    loaded.Import()
    segmentation = loaded.GetFirstNodeByName("CT segmentation")
    np.testing.assert_array_equal(map_voxels(node_maps(segmentation)[SPINE]), maps.node_maps[SPINE])


def test_a_new_run_without_maps_leaves_no_trace_of_them(tmp_path, published_tree):
    scene = new_scene()
    ct = load_ct(scene)
    segmentation = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "CT segmentation")
    segmentation.CreateDefaultDisplayNodes()
    result = reference_result(published_tree)
    import_result(result, segmentation, ct)
    before = scene_snapshot(scene)
    files, confidence, _ = write_map_files(tmp_path, result.labelmap, [SPINE])
    replace_maps(segmentation, ct, read_maps(files, confidence, ct), published_tree)
    replace_maps(segmentation, ct, [], published_tree)  # the next run asked for none
    # Only the heat colour table stays: a resource of the scene, as Slicer's colour tables are.
    assert [entry for entry in scene_snapshot(scene) if entry != HEAT_COLORS] == before


def test_a_new_run_replaces_the_maps(maps, tmp_path):
    (tmp_path / "again").mkdir()
    labelmap = reference_result(maps.tree).labelmap
    files, confidence, values = write_map_files(tmp_path / "again", labelmap, [], seed=11)
    replace_maps(maps.segmentation, maps.ct, read_maps(files, confidence, maps.ct), maps.tree)
    assert len(map_nodes(maps.segmentation)) == 1
    np.testing.assert_array_equal(map_voxels(confidence_map(maps.segmentation)),
                                  np.rint(values[""] * 255).astype(np.uint8))


def test_removing_the_segmentation_removes_its_maps(maps):
    watch = MapOwnerWatch()
    watch.watch(maps.scene)
    map_ids = [node.GetID() for node in map_nodes(maps.segmentation)]
    maps.scene.RemoveNode(maps.segmentation)
    watch.stop()
    assert [maps.scene.GetNodeByID(node_id) for node_id in map_ids] == [None, None]
    assert maps.scene.GetNodesByClass("vtkMRMLScalarVolumeDisplayNode").GetNumberOfItems() == 1  # the CT's


def test_remove_maps_removes_the_folder(maps):
    remove_maps(maps.segmentation)
    sh = slicer.vtkMRMLSubjectHierarchyNode.GetSubjectHierarchyNode(maps.scene)
    assert sh.GetItemChildWithName(sh.GetItemByDataNode(maps.segmentation), FOLDER_NAME) == 0


def test_a_map_on_another_grid_is_refused_before_the_scene_changes(tmp_path, published_tree):
    import SimpleITK as sitk

    scene = new_scene()
    ct = load_ct(scene)
    other = sitk.Image(10, 10, 10, sitk.sitkUInt8)
    files, confidence, _ = write_map_files(tmp_path, other, [SPINE])
    before = scene_snapshot(scene)
    with pytest.raises(ValueError, match="the confidence map has the grid .10, 10, 10., the volume .122, 101, 30."):
        read_maps(files, confidence, ct)
    assert scene_snapshot(scene) == before


def test_float_maps_are_kept_as_float_probabilities(tmp_path, published_tree):
    scene = new_scene()
    ct = load_ct(scene)
    segmentation = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "CT segmentation")
    result = reference_result(published_tree)
    files, confidence, values = write_map_files(tmp_path, result.labelmap, [SPINE], dtype="float")
    replace_maps(segmentation, ct, read_maps(files, confidence, ct), published_tree)
    stored = map_voxels(node_maps(segmentation)[SPINE])
    assert stored.dtype == np.float32 and map_scale(node_maps(segmentation)[SPINE]) == 1.0
    assert np.abs(stored - values[SPINE]).max() < 1e-4
