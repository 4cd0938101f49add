"""What reaches the module from VTK events and process slots while results are corrected: a
stroke's ``SourceRepresentationModified`` is never decoded as a string (its call data may be a
``vtkOrientedImageData*``); a segmentation without a SALT tree logs no VTK error; and "install the
faster runtime, then segment" asks Replace/New/Cancel only after the process slot has returned.
Real MRML, real pip."""
from __future__ import annotations

import sys

import pytest
import vtk

from editing_support import LIVER, editing_scene, paint
from slicer_test_support import published_tree, require_shared_data  # noqa: F401
from controller_support import Probe, RecordingView, ScriptedLogic

from SALTSegmentationLib.processes.process_runner import SubprocessRunner
from SALTSegmentationLib.scene.segmentation_watcher import SegmentationWatcher
from SALTSegmentationLib.scene.subtrees import tree_panel_model
from SALTSegmentationLib.scene.tree_storage import load_tree
from SALTSegmentationLib.widgets.controller import OUTPUT_CHOICES, ModuleController, RunSettings


@pytest.fixture()
def vtk_messages():
    """What VTK logs (errors, warnings) while the test runs."""
    previous = vtk.vtkOutputWindow.GetInstance()
    window = vtk.vtkStringOutputWindow()
    vtk.vtkOutputWindow.SetInstance(window)
    yield window
    vtk.vtkOutputWindow.SetInstance(previous)


def watched(node) -> tuple[SegmentationWatcher, list]:
    reports: list = []
    watcher = SegmentationWatcher(lambda: reports.append("structure"), lambda: None, reports.append)
    watcher.watch(node)
    return watcher, reports


def test_a_stroke_is_reported_without_reading_its_call_data(published_tree):
    # The same event carries a vtkSegmentation* or vtkOrientedImageData* from other senders
    # (SetSourceRepresentationName, SeparateSegmentLabelmap): read as a string, that is undefined.
    require_shared_data()
    editing = editing_scene(published_tree)
    paint(editing, LIVER, (15, 50, 40), 2)  # the first stroke also changes the segment's tags
    watcher, reports = watched(editing.segmentation)
    paint(editing, LIVER, (15, 52, 40), 2)
    assert reports == [None]  # "a segment changed": the panel's measurements find which layer
    watcher.stop()


def test_segmentations_without_a_salt_tree_log_no_vtk_error(vtk_messages):
    from slicer_test_support import new_scene

    scene = new_scene()
    node = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "the new output of a run")
    node.GetSegmentation().AddEmptySegment("notes")
    assert load_tree(node) is None
    assert tree_panel_model(node) is None
    assert vtk_messages.GetOutput() == ""


class OutputView(RecordingView):
    """The widget's view with a non-empty output segmentation chosen (Segment asks Replace/New/Cancel)."""

    def __init__(self, volume, segmentation, **kwargs) -> None:
        super().__init__(**kwargs)
        self.volume, self.segmentation = volume, segmentation
        self.choice_questions: list[str] = []

    def ask_choice(self, message, choices):
        self.choice_questions.append(message)
        return super().ask_choice(message, choices)

    def run_settings(self):
        return RunSettings(self.volume, self.segmentation, "m", "cpu", {})


def test_segmenting_after_the_runtime_install_asks_only_once_the_process_slot_returned(published_tree):
    require_shared_data()
    editing = editing_scene(published_tree)
    view = OutputView(editing.volume, editing.segmentation, answers=[True], choices=[OUTPUT_CHOICES.index("Cancel")])
    probe = Probe()
    probe.fast_runtime = False
    pending: list = []
    ctl = ModuleController(view, ScriptedLogic(), sys.executable, SubprocessRunner, probe, defer=pending.append)
    ctl.offers.fast_runtime_pip_args = ["--no-index", "pip"]  # already installed: pip succeeds offline at once
    ctl.on_segment_clicked()  # "Install the faster CPU runtime first?" → yes
    task = ctl.task
    assert task.wait(120) and task.error is None, task.error  # its finished() slot ran
    assert view.choice_questions == [] and len(pending) == 1  # no dialog inside the slot
    pending.pop(0)()  # the event loop, after the slot
    assert len(view.choice_questions) == 1 and "already holds" in view.choice_questions[0]
    assert ctl.logic.jobs == [] and view.status == "Nothing was changed."
