"""Nothing in the module silently removes segments: Segment asks before replacing a segmentation that
holds segments (after a run the output selector keeps pointing at the result, so the next Segment —
on another CT, or after corrections by hand — would replace it), and Merge subtree asks before it
removes the segments it merges (real MRML nodes; the widget controller with a recording view)."""
from __future__ import annotations

import sys

import pytest

from slicer_test_support import new_scene, published_tree  # noqa: F401  (path set-up first)
import vtk  # noqa: E402
from SALTSegmentationLib.scene.output_target import existing_output  # noqa: E402
from SALTSegmentationLib.widgets.controller import OUTPUT_CHOICES, ModuleController, RunSettings  # noqa: E402
from SALTSegmentationLib.processes.process_runner import SubprocessRunner  # noqa: E402
from controller_support import Probe, RecordingView, ScriptedLogic, controller_on_a_result  # noqa: E402

REPLACE, NEW, CANCEL = range(3)


def volume(scene, name):
    node = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", name)
    image = vtk.vtkImageData()
    image.SetDimensions(8, 8, 8)
    image.AllocateScalars(vtk.VTK_SHORT, 1)
    node.SetAndObserveImageData(image)
    return node


def corrected_segmentation(scene, made_for):
    """A result of an earlier run, with a segment painted by hand."""
    node = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", f"{made_for.GetName()} segmentation")
    node.SetReferenceImageGeometryParameterFromVolumeNode(made_for)
    for name in ("liver", "tumour drawn by hand"):
        node.GetSegmentation().AddEmptySegment(name, name)
    return node


class SettingsView(RecordingView):
    def __init__(self, volume_node, segmentation_node, choices):
        super().__init__(choices=choices)
        self.volume, self.segmentation = volume_node, segmentation_node

    def run_settings(self):
        return RunSettings(self.volume, self.segmentation, "m", "cpu", {})


def click_segment(volume_node, segmentation_node, choices):
    view = SettingsView(volume_node, segmentation_node, choices)
    ctl = ModuleController(view, ScriptedLogic(), sys.executable, SubprocessRunner, Probe())
    ctl.on_segment_clicked()
    return view, ctl.logic


@pytest.fixture
def scene():
    return new_scene()


def test_segmenting_another_ct_into_the_last_result_asks_and_new_keeps_it(scene):
    first, second = volume(scene, "CT A"), volume(scene, "CT B")
    earlier = corrected_segmentation(scene, first)
    view, logic = click_segment(second, earlier, [NEW])
    assert view.offered == list(OUTPUT_CHOICES) == ["Replace", "New segmentation", "Cancel"]
    assert view.questions == [
        "The output segmentation 'CT A segmentation' already holds 2 segments, made for another volume "
        "('CT A'). Segmenting 'CT B' into it replaces all of them, including any changes made by hand.\n\n"
        "Replace them, or put the result into a new segmentation?"]
    assert logic.outputs == [None]  # the logic creates a new segmentation node
    assert earlier.GetSegmentation().GetSegmentIDs() == ("liver", "tumour drawn by hand")


@pytest.mark.parametrize("answer", [CANCEL, None])  # Cancel, or the dialog closed
def test_cancel_or_closing_the_question_runs_nothing(scene, answer):
    ct = volume(scene, "CT")
    earlier = corrected_segmentation(scene, ct)
    view, logic = click_segment(ct, earlier, [answer])
    assert logic.jobs == [] and view.status == "Nothing was changed."
    assert "made for another volume" not in view.questions[0]  # same CT: a re-run after corrections
    assert earlier.GetSegmentation().GetNumberOfSegments() == 2


def test_replace_segments_into_the_chosen_node_and_an_empty_node_asks_nothing(scene):
    ct = volume(scene, "CT")
    earlier = corrected_segmentation(scene, ct)
    _, logic = click_segment(ct, earlier, [REPLACE])
    assert logic.outputs == [earlier]
    empty = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "empty")
    view, logic = click_segment(ct, empty, [])
    assert view.questions == [] and logic.outputs == [empty]
    view, logic = click_segment(ct, None, [])
    assert view.questions == [] and logic.outputs == [None]


def test_a_single_segment_is_counted_in_the_singular(scene):
    ct = volume(scene, "CT")
    node = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "drawn")
    node.GetSegmentation().AddEmptySegment("lesion", "lesion")
    found = existing_output(node, ct)
    assert found is not None and found.segments == 1 and found.other_volume is None
    assert "already holds 1 segment." in found.question("CT")


# ---------------------------------------------------------------- Merge subtree into one segment
LUMBAR = "body,bones,spine,lumbar_spine"


@pytest.fixture
def imported_result(published_tree):
    _, segmentation, view, ctl = controller_on_a_result(published_tree)
    return segmentation, view, ctl


def test_merge_asks_naming_what_goes_and_no_keeps_every_segment(imported_result):
    from SALTSegmentationLib.scene.subtrees import subtree_segment_ids

    segmentation, view, ctl = imported_result
    parts = subtree_segment_ids(segmentation, LUMBAR)
    assert len(parts) >= 2
    view.answers = [False]
    assert ctl.tree_actions.on_merge_subtree(segmentation, LUMBAR) is False
    assert view.questions[0].startswith(f"Merge the {len(parts)} segments under 'Lumbar spine' (")
    assert "cannot be undone" in view.questions[0] and view.status == "Nothing was merged."
    assert subtree_segment_ids(segmentation, LUMBAR) == parts

    view.answers = [True]
    assert ctl.tree_actions.on_merge_subtree(segmentation, LUMBAR) is True
    assert subtree_segment_ids(segmentation, LUMBAR) == [LUMBAR]
    assert view.status == "Merged into one segment 'Lumbar spine'."
    # One segment left under the node: merging again loses nothing and asks nothing.
    assert ctl.tree_actions.on_merge_subtree(segmentation, LUMBAR) is True and len(view.questions) == 2


def test_a_failing_merge_is_reported_and_the_panel_still_rebuilds(imported_result):
    segmentation, view, ctl = imported_result
    view.answers = [True]

    def broken(node, path):
        raise RuntimeError("vtkOrientedImageDataResample failed")

    ctl.logic.mergeSubtree = broken
    assert ctl.tree_actions.on_merge_subtree(segmentation, LUMBAR) is True  # True: the widget rebuilds the tree
    assert view.errors == ["Could not merge the subtree: vtkOrientedImageDataResample failed"]
