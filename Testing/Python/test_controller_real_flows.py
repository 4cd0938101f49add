"""The widget's controller with the module's real Logic, real engine processes and a real MRML
scene (only the view records): a model that is not installed → the download offer; Cancel from
inside the progress callback → the status text and an unchanged scene; a memory error → the CPU
retry offer; and the model transfers (install from a folder, remove) and the PyTorch install."""
from __future__ import annotations

import stat
import sys

import pytest

from slicer_test_support import (install_scripted_module_shim, load_ct, new_scene,  # noqa: F401
                                 published_tree, scene_snapshot, threshold_model_dir)
from controller_support import Probe, RecordingView
from test_models_helpers import isolated_home  # noqa: F401  (autouse: a models folder per test)

install_scripted_module_shim()
import SALTSegmentation  # noqa: E402
from SALTSegmentationLib.processes.process_runner import SubprocessRunner  # noqa: E402
from SALTSegmentationLib.widgets.controller import SEGMENT, ModuleController, RunSettings  # noqa: E402

TIMEOUT = 300  # seconds; a bound for a hung engine, never reached by a working one


class SceneView(RecordingView):
    """The recording view with a real volume and the model/device/options a user picked."""

    def __init__(self, volume, model, answers=(), options=None, text=""):
        super().__init__(answers=answers, text=text)
        self.volume, self.model, self.options = volume, model, options or {}

    def run_settings(self):
        return RunSettings(self.volume, None, self.model, self.device, dict(self.options))


@pytest.fixture
def scene_and_volume():
    scene = new_scene()
    return scene, load_ct(scene)


def make_controller(view, probe=None):
    logic = SALTSegmentation.SALTSegmentationLogic()
    return ModuleController(view, logic, sys.executable, SubprocessRunner, probe or Probe())


def run_to_end(ctl):
    job = ctl.logic.currentJob
    assert job.wait(timeout=TIMEOUT), "the engine did not finish"
    return job


def test_a_model_that_is_not_installed_offers_its_download_and_leaves_the_scene(scene_and_volume):
    scene, volume = scene_and_volume
    before = scene_snapshot(scene)
    view = SceneView(volume, "salt-foobar-31", answers=[False])  # the published model: a catalogue id
    ctl = make_controller(view)
    try:
        ctl.on_segment_clicked()
        run_to_end(ctl)
    finally:
        ctl.logic.shutdownEngine()
    assert view.questions == ["The model 'salt-foobar-31' is not installed yet. Download it now?"]
    assert view.status == ("The model 'salt-foobar-31' is not installed: choose Manage… → Download selected model.")
    assert scene_snapshot(scene) == before and view.button == (SEGMENT, True)


def test_cancel_from_the_progress_callback_says_so_and_leaves_the_scene(scene_and_volume, threshold_model_dir):
    scene, volume = scene_and_volume
    before = scene_snapshot(scene)
    view = SceneView(volume, str(threshold_model_dir))
    ctl = make_controller(view)

    shown = ctl.on_progress
    pressed = []

    def progress_then_cancel(stage, fraction):  # the user presses Cancel when the first progress shows
        shown(stage, fraction)
        if not pressed:
            pressed.append(stage)
            ctl.on_segment_clicked()

    ctl.on_progress = progress_then_cancel  # what the controller hands to the Logic as its callback
    try:
        ctl.on_segment_clicked()
        job = run_to_end(ctl)
    finally:
        ctl.logic.shutdownEngine()
    assert pressed and job.state == job.CANCELLED
    assert view.status == "Cancelled; nothing was changed." and view.errors == []
    assert scene_snapshot(scene) == before and view.button == (SEGMENT, True)


def test_a_memory_error_offers_the_cpu_retry_which_runs_there(scene_and_volume, threshold_model_dir):
    """The engine's pre-flight check refuses the run (a memory limit below the need); the retry on
    the CPU, accepted, runs with device cpu and, failing again there, offers nothing more."""
    scene, volume = scene_and_volume
    view = SceneView(volume, str(threshold_model_dir), answers=[True], options={"host_memory_limit": 1024})
    ctl = make_controller(view)
    try:
        ctl.on_segment_clicked()
        first = run_to_end(ctl)
        second = run_to_end(ctl)
    finally:
        ctl.logic.shutdownEngine()
    assert first is not second and first.request["device"] == "auto" and second.request["device"] == "cpu"
    assert len(view.questions) == 1
    assert view.questions[0].endswith("Retry on the CPU? It is slower but has more memory.")
    assert "memory" in view.errors[0].lower() and len(view.errors) == 2 and view.device == "cpu"


def test_install_from_a_folder_then_remove_through_the_engine(tmp_path, scene_and_volume, threshold_model_dir,
                                                              isolated_home):
    _, volume = scene_and_volume
    view = SceneView(volume, None, answers=[True], text="my-model")
    ctl = make_controller(view)
    ctl.install_model_from_file(str(threshold_model_dir))
    assert ctl.task.wait(TIMEOUT)
    assert view.errors == [] and view.status == "The model is installed."
    assert (isolated_home / "models" / "my-model" / "model.pt").is_file()
    assert ctl.task is not None and ctl.task.wait(TIMEOUT)  # the model list is read again
    assert "my-model" in [choice.id for choice in view.models]

    ctl.remove_model("my-model")
    assert view.questions == ["Delete the installed model my-model?"]
    assert ctl.task.wait(TIMEOUT)
    assert view.errors == [] and view.status == "my-model was deleted."
    assert not (isolated_home / "models" / "my-model").exists()
    assert ctl.task is not None and ctl.task.wait(TIMEOUT)
    assert "my-model" not in [choice.id for choice in view.models]


def test_install_torch_runs_light_the_torch_in_a_process_then_refreshes(tmp_path, scene_and_volume):
    """A stand-in Python records what it is asked to run (no download in a test)."""
    _, volume = scene_and_volume
    record = tmp_path / "commands.txt"
    python = tmp_path / "python"
    python.write_text(f"#!/bin/sh\necho \"$@\" >> '{record}'\n")
    python.chmod(python.stat().st_mode | stat.S_IXUSR)
    view = SceneView(volume, None)
    view.models = ["stale"]
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    ctl = ModuleController(view, SALTSegmentation.SALTSegmentationLogic(), str(python), SubprocessRunner,
                           Probe(torch=None), scratch_folder=str(scratch))
    ctl.offers.install_torch()
    assert view.button == (SEGMENT, False)  # no run while PyTorch is being installed
    assert ctl.task.wait(TIMEOUT)
    lines = record.read_text().splitlines()
    assert len(lines) == 2 and "pip install light-the-torch>=0.5 -c " in lines[0]
    assert "light_the_torch install torch>=" in lines[1] and " -c " in lines[1]  # held to Slicer's packages
    assert list(scratch.iterdir()) == []  # the constraints went with the task
    assert view.status == "PyTorch is installed; press Segment." and view.errors == []
    assert view.models == [] and view.button == (SEGMENT, True)  # list refreshed, button back
