"""The *Probability maps* option: saved with the scene (one parameter per job field), and the job the
module sends asks the engine for the confidence and the chosen nodes' maps exactly when the option
is on — from the console, and from the widget's controller (real Logic and MRML; the engine process
is one that cannot start, so the request is what is checked, not a run)."""
from __future__ import annotations

import sys

import pytest
import slicer

from slicer_test_support import load_ct, new_scene, require_shared_data
from controller_support import Probe, RecordingView
from SALTSegmentationLib.scene.logic_core import SegmentationLogicCore
from SALTSegmentationLib.scene.parameters import (CONFIDENCE, PROBABILITIES, probability_request,
                                                  read_probability_maps, write_probability_maps)
from SALTSegmentationLib.widgets.controller import ModuleController, RunSettings


class CannotStartRunner:
    """An engine process that cannot be started: the job fails at once, its request recorded."""

    def __init__(self):
        self.on_stdout_line = self.on_stderr_line = self.on_finished = None

    def start(self, program, args, env=None):
        self.on_stderr_line("could not start the engine process")
        self.on_finished(-1, True)

    def is_running(self):
        return False

    def write_line(self, text):
        raise RuntimeError("the process is not running")

    def kill(self):
        pass

    def pid(self):
        return None

    def wait_for_activity(self, timeout):
        pass


@pytest.fixture
def logic_and_volume():
    require_shared_data()
    scene = new_scene()
    yield SegmentationLogicCore(runner_factory=CannotStartRunner), load_ct(scene)


def sent(logic) -> dict:
    """What the request asks of the maps (the engine's own request writes ``confidence: false``)."""
    return {key: logic.currentJob.request[key] for key in ("confidence", "probabilities")
            if logic.currentJob.request.get(key)}


def test_parameters_round_trip_through_a_saved_scene(tmp_path):
    scene = new_scene()
    node = scene.AddNewNodeByClass("vtkMRMLScriptedModuleNode", "SALTSegmentation")
    write_probability_maps(node, True, ["spine", "kidneys"])
    scene.SetURL(str(tmp_path / "scene.mrml"))
    assert scene.Commit()
    loaded = slicer.vtkMRMLScene()
    loaded.SetURL(str(tmp_path / "scene.mrml"))
    loaded.Import()
    assert read_probability_maps(loaded.GetFirstNodeByName("SALTSegmentation")) == (True, ("spine", "kidneys"))


def test_a_new_node_asks_for_no_maps():
    assert probability_request(slicer.vtkMRMLScriptedModuleNode()) == {}


def test_switched_on_the_job_asks_for_the_confidence_and_the_chosen_nodes():
    node = slicer.vtkMRMLScriptedModuleNode()
    write_probability_maps(node, True, ["spine"])
    assert probability_request(node) == {"confidence": True, "probabilities": ["spine"]}


def test_switched_off_the_chosen_nodes_are_kept_but_not_asked_for():
    node = slicer.vtkMRMLScriptedModuleNode()
    write_probability_maps(node, False, ["spine"])
    assert (read_probability_maps(node), probability_request(node)) == ((False, ("spine",)), {})


def test_a_hand_edited_bad_value_reads_as_off(caplog):
    node = slicer.vtkMRMLScriptedModuleNode()
    node.SetParameter(CONFIDENCE, "yes please")
    node.SetParameter(PROBABILITIES, '["spine"]')
    assert read_probability_maps(node) == (False, ())
    assert "probability maps off" in caplog.text


def test_the_console_asks_for_maps_when_told(logic_and_volume):
    logic, volume = logic_and_volume
    logic.segment(volume, model="m", wait=False, confidence=True, probabilities="spine")
    assert sent(logic) == {"confidence": True, "probabilities": ["spine"]}


def test_the_console_asks_for_no_maps_by_default(logic_and_volume):
    logic, volume = logic_and_volume
    logic.segment(volume, model="m", wait=False)
    assert sent(logic) == {}


def test_outputs_leave_the_maps_to_their_own_arguments():
    from SALTSegmentationLib.scene.segment_arguments import job_outputs

    with pytest.raises(ValueError, match="unknown output.s. confidence"):
        job_outputs({"confidence": True})


class SettingsView(RecordingView):
    def __init__(self, volume, probability_maps):
        super().__init__()
        self.volume, self.probability_maps = volume, probability_maps

    def run_settings(self):
        return RunSettings(self.volume, None, "m", "cpu", {}, probability_maps=dict(self.probability_maps))


@pytest.mark.parametrize("asked", [{}, {"confidence": True}, {"confidence": True, "probabilities": ["spine"]}],
                         ids=["off", "confidence only", "with a node"])
def test_the_segment_button_sends_what_the_option_says(logic_and_volume, asked):
    logic, volume = logic_and_volume
    controller = ModuleController(SettingsView(volume, asked), logic, sys.executable, CannotStartRunner, Probe())
    controller.on_segment_clicked()
    assert sent(logic) == asked
