"""The heat map of the confidence inside a structure follows Segment Editor strokes (real MRML, the
Structures panel's Qt-free sync wired to the controller's probability actions as the widget wires
them): after a burst the heat map is the confidence where the structure now is, recomputed only in
the slices the strokes changed, and not at all while it is not shown."""
from __future__ import annotations

import sys

import numpy as np
import pytest

from controller_support import Probe, RecordingView
from editing_support import LIVER, SPLEEN, editing_scene, fire, paint, panel_sync
from slicer_test_support import published_tree  # noqa: F401
from slicer_probability_support import add_confidence, add_slice_views
from SALTSegmentationLib.processes.process_runner import SubprocessRunner
from SALTSegmentationLib.scene.logic_core import SegmentationLogicCore
from SALTSegmentationLib.scene.probability_maps import map_voxels
from SALTSegmentationLib.scene.probability_overlay import ProbabilityOverlay
from SALTSegmentationLib.widgets.controller import ModuleController

ABDOMINAL_CAVITY = "body,abdominal_cavity"


@pytest.fixture
def panel(published_tree):
    editing = editing_scene(published_tree)
    confidence = add_confidence(editing)
    add_slice_views(editing.scene)
    logic = SegmentationLogicCore()
    controller = ModuleController(RecordingView(), logic, sys.executable, SubprocessRunner, Probe())
    sync, _, timer = panel_sync()
    sync.on_edited = controller.probability_actions.on_segments_edited  # as the module's widget does
    sync.enter()
    sync.set_segmentation(editing.segmentation)
    yield editing, confidence, sync, timer, controller.probability_actions, logic
    logic.hideProbability()
    sync.close()


def expected_heat_map(editing, confidence: np.ndarray, path: str) -> np.ndarray:
    inside = np.isin(editing.labels, editing.tree.subtree_label_values(path))
    return np.where(inside, confidence, 0)


def shown_heat_map(logic) -> np.ndarray:
    return map_voxels(logic.probabilityOverlay.volume)


def test_painting_the_selected_structure_moves_its_heat_map(panel):
    editing, confidence, sync, timer, actions, logic = panel
    actions.on_node_selected(editing.segmentation, ",".join(SPLEEN))
    paint(editing, SPLEEN, (15, 50, 60), 4)
    fire(timer, sync)
    np.testing.assert_array_equal(shown_heat_map(logic), expected_heat_map(editing, confidence, ",".join(SPLEEN)))


def test_painting_another_structure_over_the_selected_one_takes_it_out_of_the_heat_map(panel):
    editing, confidence, sync, timer, actions, logic = panel
    actions.on_node_selected(editing.segmentation, ",".join(LIVER))
    liver = np.argwhere(editing.labels == editing.tree.label_value(editing.tree.index(LIVER)))
    before = expected_heat_map(editing, confidence, ",".join(LIVER))
    paint(editing, SPLEEN, tuple(liver[len(liver) // 2]), 3)  # "overwrite all" takes the liver's voxels
    fire(timer, sync)
    after = expected_heat_map(editing, confidence, ",".join(LIVER))
    assert not np.array_equal(before, after)  # the stroke did take some
    np.testing.assert_array_equal(shown_heat_map(logic), after)


def test_a_group_follows_the_strokes_of_its_members(panel):
    editing, confidence, sync, timer, actions, logic = panel
    actions.on_node_selected(editing.segmentation, ABDOMINAL_CAVITY)
    paint(editing, SPLEEN, (15, 50, 60), 4)
    paint(editing, LIVER, (20, 30, 80), 3)
    fire(timer, sync)
    np.testing.assert_array_equal(shown_heat_map(logic), expected_heat_map(editing, confidence, ABDOMINAL_CAVITY))


def test_a_stroke_recomputes_only_the_slices_it_changed(panel):
    editing, _, sync, timer, actions, logic = panel
    actions.on_node_selected(editing.segmentation, ",".join(SPLEEN))
    paint(editing, SPLEEN, (15, 50, 60), 2)
    fire(timer, sync)
    assert 0 < logic.probabilityOverlay.recomputed <= 5  # a ball of radius 2 spans 5 slices of 30


def test_segments_removed_redraw_the_whole_heat_map(panel):
    editing, confidence, sync, timer, actions, logic = panel
    actions.on_node_selected(editing.segmentation, ABDOMINAL_CAVITY)
    editing.segmentation.GetSegmentation().RemoveSegment(",".join(SPLEEN))
    editing.labels[editing.labels == editing.tree.label_value(editing.tree.index(SPLEEN))] = 0
    fire(timer, sync)
    np.testing.assert_array_equal(shown_heat_map(logic), expected_heat_map(editing, confidence, ABDOMINAL_CAVITY))


def test_a_heat_map_that_is_not_shown_is_not_computed(panel):
    editing, _, sync, timer, actions, logic = panel
    actions.on_node_selected(editing.segmentation, ",".join(SPLEEN))
    actions.on_overlay_toggled(False, editing.segmentation, ",".join(SPLEEN))
    paint(editing, SPLEEN, (15, 50, 60), 4)
    fire(timer, sync)
    assert logic.probabilityOverlay.recomputed == 0


def heat_map_computed_afresh(editing, path: str) -> np.ndarray:
    fresh = ProbabilityOverlay()
    fresh.show(editing.segmentation, path)
    try:
        return map_voxels(fresh.volume).copy()
    finally:
        fresh.clear()


def test_segments_that_swap_label_values_swap_their_heat_maps(panel):
    editing, confidence, sync, timer, actions, logic = panel
    actions.on_node_selected(editing.segmentation, ",".join(LIVER))
    segmentation = editing.segmentation.GetSegmentation()
    liver, spleen = segmentation.GetSegment(",".join(LIVER)), segmentation.GetSegment(",".join(SPLEEN))
    liver_value, spleen_value = liver.GetLabelValue(), spleen.GetLabelValue()
    liver.SetLabelValue(spleen_value)  # no voxel changes: the liver segment now is where the spleen was
    spleen.SetLabelValue(liver_value)
    segmentation.Modified()
    editing.segmentation.Modified()
    sync.batcher.segment_modified(None)  # what the Segment Editor's events report
    fire(timer, sync)
    was_liver = editing.labels == editing.tree.label_value(editing.tree.index(LIVER))
    was_spleen = editing.labels == editing.tree.label_value(editing.tree.index(SPLEEN))
    editing.labels[was_liver] = editing.tree.label_value(editing.tree.index(SPLEEN))
    editing.labels[was_spleen] = editing.tree.label_value(editing.tree.index(LIVER))
    np.testing.assert_array_equal(shown_heat_map(logic), expected_heat_map(editing, confidence, ",".join(LIVER)))


def test_a_view_given_another_foreground_keeps_it_when_the_heat_map_is_redrawn(panel):
    editing, _, sync, timer, actions, logic = panel
    actions.on_node_selected(editing.segmentation, ABDOMINAL_CAVITY)
    views = [editing.scene.GetNthNodeByClass(i, "vtkMRMLSliceCompositeNode") for i in range(3)]
    views[0].SetForegroundVolumeID(editing.volume.GetID())  # the user's own choice meanwhile
    editing.segmentation.GetSegmentation().RemoveSegment(",".join(SPLEEN))  # a rebuild: all redrawn
    fire(timer, sync)
    assert [view.GetForegroundVolumeID() for view in views] == \
        [editing.volume.GetID()] + [logic.probabilityOverlay.volume.GetID()] * 2


def test_maps_removed_meanwhile_give_the_views_back(panel):
    from SALTSegmentationLib.scene.probability_maps import remove_maps

    editing, _, sync, timer, actions, _ = panel
    actions.on_node_selected(editing.segmentation, ",".join(SPLEEN))
    remove_maps(editing.segmentation)
    paint(editing, SPLEEN, (15, 50, 60), 3)
    fire(timer, sync)
    views = [editing.scene.GetNthNodeByClass(i, "vtkMRMLSliceCompositeNode") for i in range(3)]
    assert ({view.GetForegroundVolumeID() for view in views}, actions.showing) == ({None}, False)


def test_strokes_on_a_segment_in_a_layer_of_its_own_are_followed(panel):
    editing, _, sync, timer, actions, logic = panel
    actions.on_node_selected(editing.segmentation, ABDOMINAL_CAVITY)
    segmentation = editing.segmentation.GetSegmentation()
    segmentation.SeparateSegmentLabelmap(",".join(SPLEEN))
    fire(timer, sync)
    paint(editing, SPLEEN, (15, 50, 60), 4)
    paint(editing, LIVER, (15, 50, 60), 2)  # the liver over the spleen, from another layer
    fire(timer, sync)
    np.testing.assert_array_equal(shown_heat_map(logic), heat_map_computed_afresh(editing, ABDOMINAL_CAVITY))
