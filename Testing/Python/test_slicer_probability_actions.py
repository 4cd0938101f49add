"""What the Structures panel does with probability maps, through the controller's Qt-free actions and
the module's Logic (real MRML; only the view records): the selected structure's heat map and what
the status line says of it, the *Show probability* check box, *Show uncertain voxels*, and the
slice views given back when the module lets go."""
from __future__ import annotations

import sys

import pytest

from controller_support import Probe, RecordingView
from slicer_test_support import published_tree  # noqa: F401
from slicer_probability_support import KIDNEYS, SPINE, add_slice_views, scene_with_maps
from SALTSegmentationLib.processes.process_runner import SubprocessRunner
from SALTSegmentationLib.scene.logic_core import SegmentationLogicCore
from SALTSegmentationLib.scene.probability_maps import node_maps, remove_maps
from SALTSegmentationLib.widgets.controller import ModuleController


@pytest.fixture
def panel(tmp_path, published_tree):
    maps = scene_with_maps(tmp_path, published_tree)
    maps.views = add_slice_views(maps.scene)
    view = RecordingView()
    controller = ModuleController(view, SegmentationLogicCore(), sys.executable, SubprocessRunner, Probe())
    return maps, view, controller, controller.probability_actions


def foreground_ids(maps) -> set:
    return {composite.GetForegroundVolumeID() for composite in maps.views}


def test_selecting_a_structure_with_its_map_shows_it_and_says_what_it_is(panel):
    maps, view, _, actions = panel
    actions.on_node_selected(maps.segmentation, SPINE)
    assert foreground_ids(maps) == {node_maps(maps.segmentation)[SPINE].GetID()}
    assert view.status == "Heat map: the model's probability of Spine (dark: unlikely, pale yellow: certain)."


def test_selecting_a_structure_without_a_map_says_it_is_the_confidence(panel):
    maps, view, _, actions = panel
    actions.on_node_selected(maps.segmentation, KIDNEYS)
    assert view.status.startswith("Heat map: the model's confidence inside Kidneys")


def test_selecting_nothing_gives_the_views_back(panel):
    maps, _, _, actions = panel
    actions.on_node_selected(maps.segmentation, KIDNEYS)
    actions.on_node_selected(maps.segmentation, None)
    assert foreground_ids(maps) == {None}


def test_unchecking_show_probability_gives_the_views_back_and_keeps_them(panel):
    maps, _, _, actions = panel
    actions.on_node_selected(maps.segmentation, KIDNEYS)
    actions.on_overlay_toggled(False, maps.segmentation, KIDNEYS)
    actions.on_node_selected(maps.segmentation, SPINE)
    assert foreground_ids(maps) == {None}


def test_a_segmentation_without_maps_changes_no_view_and_says_nothing(panel):
    maps, view, _, actions = panel
    remove_maps(maps.segmentation)
    actions.on_node_selected(maps.segmentation, KIDNEYS)
    assert (foreground_ids(maps), view.status, view.errors) == ({None}, "", [])


def test_closing_the_module_gives_the_views_back(panel):
    maps, _, controller, actions = panel
    actions.on_node_selected(maps.segmentation, KIDNEYS)
    controller.shutdown()
    assert foreground_ids(maps) == {None}


def test_show_uncertain_voxels_adds_the_segment_and_says_how_much(panel):
    maps, view, _, actions = panel
    assert actions.on_show_uncertain(maps.segmentation, KIDNEYS)
    region = maps.node_voxels(KIDNEYS) & (maps.confidence < 127.5)
    voxels = int(region.sum())
    assert view.status == (f"Segment 'uncertain: Kidneys': {voxels * 0.027:.1f} mL ({voxels} voxels) below 50 % "
                           "confidence, for review.")


def test_show_uncertain_voxels_without_a_selection_asks_for_one(panel):
    maps, view, _, actions = panel
    assert not actions.on_show_uncertain(maps.segmentation, None)
    assert view.errors == ["Select a structure in the Structures panel first."]


def test_show_uncertain_voxels_without_maps_says_how_to_get_them(panel):
    maps, view, _, actions = panel
    remove_maps(maps.segmentation)
    assert not actions.on_show_uncertain(maps.segmentation, KIDNEYS)
    assert view.errors == ["'CT segmentation' has no confidence map: segment again with Output → Probability maps "
                           "checked"]


def test_the_console_takes_a_structure_by_name(panel):
    maps, _, controller, _ = panel
    assert controller.logic.showProbability(maps.segmentation, "spine") == "probability"


def test_a_run_with_maps_says_so_in_the_status_line():
    from SALTSegmentationLib.processes.engine_job import EngineResult
    from SALTSegmentationLib.widgets.probability_actions import ProbabilityActions

    result = EngineResult(None, None, probability_maps={SPINE: "spine.nii.gz"}, confidence_map="c.nii.gz")
    assert ProbabilityActions.result_note(result) == (" Probability maps: the confidence map and 1 structure map "
                                                      "(select a structure under Structures to see its heat map).")


def test_a_run_without_maps_adds_nothing_to_the_status_line():
    from SALTSegmentationLib.processes.engine_job import EngineResult
    from SALTSegmentationLib.widgets.probability_actions import ProbabilityActions

    assert ProbabilityActions.result_note(EngineResult(None, None)) == ""
