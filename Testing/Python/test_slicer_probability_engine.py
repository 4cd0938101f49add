"""Probability maps end to end: the module's Logic asks a real engine process (a real SALT-format
model on the published tree) for the confidence and a node's map, imports them as the engine wrote
them, shows a structure's heat map from them, and a later run without maps leaves none behind."""
from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from slicer_test_support import (install_scripted_module_shim, load_ct, new_scene, published_tree,  # noqa: F401
                                 threshold_model_dir)
from slicer_probability_support import SPINE, add_slice_views

install_scripted_module_shim()
import SALTSegmentation  # noqa: E402
from SALTSegmentationLib.scene.probability_maps import map_voxels  # noqa: E402


def written_bytes(path) -> np.ndarray:
    """A uint8 map file's stored values (ITK reads them scaled to 0–1 by the header)."""
    return np.rint(sitk.GetArrayFromImage(sitk.ReadImage(str(path))) * 255).astype(np.uint8)


@pytest.fixture(scope="module")
def run(threshold_model_dir, tmp_path_factory):
    """One run with maps (the engine also writes them beside an output, where the test can read
    them), then a second run into the same segmentation without maps."""
    folder = tmp_path_factory.mktemp("engine-maps")
    scene = new_scene()
    views = add_slice_views(scene)
    volume = load_ct(scene)
    logic = SALTSegmentation.SALTSegmentationLogic()
    try:
        segmentation = logic.segment(volume, model=str(threshold_model_dir), device="cpu", confidence=True,
                                     probabilities=["spine"], outputs={"output": folder / "ct.seg.nrrd"})
        first = {"maps": logic.probabilityMaps(segmentation), "request": dict(logic.currentJob.request),
                 "shown": logic.showProbability(segmentation, "spine"),
                 "foreground": views[0].GetForegroundVolumeID()}
        logic.hideProbability()
        logic.segment(volume, segmentation, model=str(threshold_model_dir), device="cpu")
        second = {"maps": logic.probabilityMaps(segmentation), "request": dict(logic.currentJob.request)}
    finally:
        logic.shutdownEngine()
    return scene, folder, first, second


def test_the_request_asks_for_the_confidence_and_the_node(run):
    _, _, first, _ = run
    assert (first["request"]["confidence"], first["request"]["probabilities"]) == (True, ["spine"])


def test_the_confidence_map_is_imported_as_the_engine_wrote_it(run):
    _, folder, first, _ = run
    np.testing.assert_array_equal(map_voxels(first["maps"]["confidence"]),
                                  written_bytes(folder / "ct.confidence.nii.gz"))


def test_the_nodes_map_is_imported_as_the_engine_wrote_it(run):
    _, folder, first, _ = run
    np.testing.assert_array_equal(map_voxels(first["maps"][SPINE]),
                                  written_bytes(folder / "ct.prob.body-bones-spine.nii.gz"))


def test_selecting_the_node_shows_its_own_map(run):
    _, _, first, _ = run
    assert (first["shown"], first["foreground"]) == ("probability", first["maps"][SPINE].GetID())


def test_a_run_without_maps_asks_for_none_and_leaves_none(run):
    scene, _, _, second = run
    assert not second["request"].get("confidence") and "probabilities" not in second["request"]
    assert second["maps"] == {}
    assert scene.GetNodesByClass("vtkMRMLScalarVolumeNode").GetNumberOfItems() == 1  # the CT alone
