"""Selecting a structure shows its probability as a heat map over the CT in every slice view (real
MRML): its own map when the run computed one, else the confidence inside its voxels, with the heat
colour table and half opacity; clearing gives each view back what it showed and leaves no node."""
from __future__ import annotations

import numpy as np
import pytest

from slicer_test_support import published_tree, scene_snapshot  # noqa: F401
from slicer_probability_support import BONES, KIDNEYS, SPINE, add_slice_views, scene_with_maps
from SALTSegmentationLib.scene.probability_colors import COLOR_NODE_NAME
from SALTSegmentationLib.scene.probability_maps import map_voxels, node_maps
from SALTSegmentationLib.scene.probability_overlay import (CONFIDENCE, OVERLAY_OPACITY, PROBABILITY,
                                                           ProbabilityOverlay)


@pytest.fixture
def maps(tmp_path, published_tree):
    maps = scene_with_maps(tmp_path, published_tree)
    maps.views = add_slice_views(maps.scene)
    return maps


def foregrounds(maps) -> list:
    return [(view.GetForegroundVolumeID(), view.GetForegroundOpacity()) for view in maps.views]


def test_a_structure_with_its_own_map_shows_that_map(maps):
    overlay = ProbabilityOverlay()
    assert overlay.show(maps.segmentation, SPINE) == PROBABILITY
    own = node_maps(maps.segmentation)[SPINE].GetID()
    assert foregrounds(maps) == [(own, OVERLAY_OPACITY)] * 3


def test_a_structure_without_a_map_shows_the_confidence_inside_it(maps):
    overlay = ProbabilityOverlay()
    assert overlay.show(maps.segmentation, KIDNEYS) == CONFIDENCE
    expected = np.where(maps.node_voxels(KIDNEYS), maps.confidence, 0)
    np.testing.assert_array_equal(map_voxels(overlay.volume), expected)


def test_the_confidence_overlay_is_in_every_view_at_half_opacity(maps):
    overlay = ProbabilityOverlay()
    overlay.show(maps.segmentation, KIDNEYS)
    assert foregrounds(maps) == [(overlay.volume.GetID(), OVERLAY_OPACITY)] * 3


def test_the_overlay_uses_the_heat_colour_table(maps):
    overlay = ProbabilityOverlay()
    overlay.show(maps.segmentation, KIDNEYS)
    assert overlay.volume.GetDisplayNode().GetColorNode().GetName() == COLOR_NODE_NAME


def test_an_internal_node_covers_its_whole_subtree(maps):
    overlay = ProbabilityOverlay()
    overlay.show(maps.segmentation, BONES)
    shown = map_voxels(overlay.volume) > 0
    assert np.array_equal(shown, maps.node_voxels(BONES) & (maps.confidence > 0))


def test_the_confidence_overlay_is_hidden_from_selectors_and_not_saved(maps):
    overlay = ProbabilityOverlay()
    overlay.show(maps.segmentation, KIDNEYS)
    assert overlay.volume.GetHideFromEditors() and not overlay.volume.GetSaveWithScene()


def test_clearing_gives_each_view_back_what_it_showed(maps):
    maps.views[0].SetForegroundVolumeID(maps.ct.GetID())
    maps.views[0].SetForegroundOpacity(0.2)
    before = foregrounds(maps)
    overlay = ProbabilityOverlay()
    overlay.show(maps.segmentation, KIDNEYS)
    overlay.show(maps.segmentation, SPINE)
    overlay.show(maps.segmentation, BONES)
    overlay.clear()
    assert foregrounds(maps) == before


def test_clearing_leaves_no_node_behind(maps):
    before = scene_snapshot(maps.scene)
    overlay = ProbabilityOverlay()
    overlay.show(maps.segmentation, KIDNEYS)
    overlay.clear()
    assert scene_snapshot(maps.scene) == before


def test_a_view_the_user_changed_meanwhile_keeps_the_users_choice(maps):
    overlay = ProbabilityOverlay()
    overlay.show(maps.segmentation, KIDNEYS)
    maps.views[1].SetForegroundVolumeID(maps.ct.GetID())
    overlay.clear()
    assert maps.views[1].GetForegroundVolumeID() == maps.ct.GetID()


def test_a_segmentation_without_maps_shows_nothing(maps):
    from SALTSegmentationLib.scene.probability_maps import remove_maps

    remove_maps(maps.segmentation)
    before = foregrounds(maps)
    assert ProbabilityOverlay().show(maps.segmentation, KIDNEYS) == ""
    assert foregrounds(maps) == before


def test_switching_to_a_structure_with_its_own_map_removes_the_confidence_overlay(maps):
    overlay = ProbabilityOverlay()
    overlay.show(maps.segmentation, KIDNEYS)
    derived = overlay.volume
    overlay.show(maps.segmentation, SPINE)
    assert derived.GetScene() is None


def blended_slice(slice_logic) -> np.ndarray:
    """The slice view's blended layers (what Slicer's Red view draws), RGB, computed without OpenGL."""
    from vtk.util import numpy_support

    producer = slice_logic.GetImageDataConnection().GetProducer()
    producer.Update()
    image = producer.GetOutputDataObject(0)
    width, height, _ = image.GetDimensions()
    pixels = numpy_support.vtk_to_numpy(image.GetPointData().GetScalars()).reshape(height, width, -1)
    return pixels[:, :, :3].astype(int)


@pytest.fixture
def red_view(tmp_path, published_tree):
    import slicer

    from render_slice_view import add_default_colors, show_as_ct

    maps = scene_with_maps(tmp_path, published_tree)
    add_default_colors(maps.scene)
    show_as_ct(maps.ct)
    application = slicer.vtkMRMLApplicationLogic()
    application.SetMRMLScene(maps.scene)
    slice_logic = slicer.vtkMRMLSliceLogic()
    slice_logic.SetMRMLScene(maps.scene)
    slice_logic.SetMRMLApplicationLogic(application)
    slice_logic.AddSliceNode("Red").SetDimensions(160, 140, 1)
    slice_logic.GetSliceCompositeNode().SetBackgroundVolumeID(maps.ct.GetID())
    slice_logic.FitSliceToAll()
    center = maps.segmentation.GetSegmentCenterRAS(KIDNEYS + ",kidney_left")
    slice_logic.GetSliceNode().JumpSliceByOffsetting(*center)
    return maps, slice_logic, application


def test_the_slice_view_draws_the_heat_map_in_colour_over_the_grey_ct(red_view):
    maps, slice_logic, _ = red_view
    before = blended_slice(slice_logic)
    ProbabilityOverlay().show(maps.segmentation, KIDNEYS)
    changed = np.abs(blended_slice(slice_logic) - before).sum(axis=2) > 0
    after = blended_slice(slice_logic)[changed]
    assert 50 < changed.sum() < 0.1 * changed.size  # the kidneys' voxels in this slice; elsewhere the CT
    assert (after.max(axis=1) - after.min(axis=1) > 10).mean() > 0.9  # coloured, where the CT is grey


def test_the_slice_view_is_drawn_as_before_once_cleared(red_view):
    maps, slice_logic, _ = red_view
    before = blended_slice(slice_logic)
    overlay = ProbabilityOverlay()
    overlay.show(maps.segmentation, KIDNEYS)
    overlay.clear()
    np.testing.assert_array_equal(blended_slice(slice_logic), before)
