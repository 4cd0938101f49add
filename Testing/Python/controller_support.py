"""A recording view and a scripted logic for the controller tests (no tests here)."""
from __future__ import annotations

import contextlib

from pathlib import Path
from typing import Optional

import slicer_test_support  # noqa: F401  (path set-up)
from saltseg.errors import Cancelled
from SALTSegmentationLib.widgets.controller import RunSettings
from SALTSegmentationLib.processes.dependencies import DependencyProbe
from SALTSegmentationLib.processes.engine_job import EngineJob


class RecordingView:
    def __init__(self, answers=(), text: Optional[str] = "", choices=()) -> None:
        self.button = ("", False)
        self.status = ""
        self.errors: list[str] = []
        self.progress = (False, 0, "")
        self.answers = list(answers)
        self.choice_answers = list(choices)  # button indices for ask_choice (None: dialog closed)
        self.questions: list[str] = []
        self.text = text
        self.models: list = []
        self.devices: list = []
        self.device = "auto"
        self.output = None
        self.installed: list = []
        self.constraints: list[str] = []
        self.volume = object()
        self.details: list[str] = []
        self.log: list[str] = []
        self.tables: list = []

    def set_segment_button(self, text, enabled): self.button = (text, enabled)
    def set_status(self, text): self.status = text
    def show_error(self, message, details=""):
        self.errors.append(message)
        self.details.append(details)
        self.status = f"Error: {message}"
    def append_log(self, line): self.log.append(line)
    def set_progress(self, visible, percent=0, text=""): self.progress = (visible, percent, text)
    def ask_yes_no(self, message):
        self.questions.append(message)
        return self.answers.pop(0)

    def ask_choice(self, message, choices):
        self.questions.append(message)
        self.offered = list(choices)
        return self.choice_answers.pop(0)
    def ask_text(self, title, label): return self.text
    def set_models(self, choices): self.models = list(choices)
    def set_devices(self, devices): self.devices = list(devices)
    def select_device(self, name): self.device = name
    def set_output(self, node): self.output = node
    def show_table(self, table_node): self.tables.append(table_node)
    def busy(self): return contextlib.nullcontext()
    def install_packages(self, requirements, constraints):
        self.installed.append(list(requirements))
        self.constraints.append(Path(constraints).read_text())  # what pip would have been held to
        return True
    def has_volume(self): return self.volume is not None
    def run_settings(self): return RunSettings(self.volume, None, "m", self.device, {})


class FakeJob:
    SUCCEEDED, FAILED, CANCELLED = EngineJob.SUCCEEDED, EngineJob.FAILED, EngineJob.CANCELLED

    def __init__(self, device, on_finished):
        self.device, self.on_finished = device, on_finished
        self.state, self.error, self.result, self.started_at = "running", None, None, 0.0

    @property
    def finished(self):
        return self.state != "running"

    def end(self, state, error=None, result=None):
        self.state, self.error, self.result = state, error, result
        self.on_finished(self)


class ScriptedLogic:
    """Records segment() calls; the test ends each job the way the engine would."""

    def __init__(self):
        self.jobs: list[FakeJob] = []
        self.outputs: list = []  # the segmentation node each segment() call was given
        self.servers: list = []  # the server each segment() call was given (None: this computer)
        self.currentJob = None
        self.modelsHome = None

    def segment(self, volume, segmentation, model, device, wait, progress, options, onFinished, server=None):
        assert wait is False
        self.outputs.append(segmentation)
        self.servers.append(server)
        self.currentJob = FakeJob(device, onFinished)
        self.jobs.append(self.currentJob)
        return "node"

    def cancel(self, atOnce=False):
        self.currentJob.end(FakeJob.CANCELLED, Cancelled("Segmentation cancelled by the user."))


class Probe(DependencyProbe):
    def __init__(self, torch="2.13.0", missing=()):
        self.torch, self.missing = torch, list(missing)
        self.fast_runtime = True  # the faster CPU runtime (test_slicer_fast_runtime.py sets False)

    def missing_packages(self): return list(self.missing)
    def torch_version(self): return self.torch
    def fast_runtime_installed(self): return self.fast_runtime


def controller_on_a_result(tree):
    """A scene holding the shared CT and a result of ``tree`` imported as the module imports one,
    and a controller with a recording view over the module's real Logic: (scene, segmentation,
    view, controller)."""
    import sys

    from slicer_test_support import install_scripted_module_shim, load_ct, new_scene, reference_result
    from SALTSegmentationLib.processes.process_runner import SubprocessRunner
    from SALTSegmentationLib.scene.importer import import_result
    from SALTSegmentationLib.widgets.controller import ModuleController

    install_scripted_module_shim()
    import SALTSegmentation

    scene = new_scene()
    ct = load_ct(scene)
    segmentation = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "CT segmentation")
    segmentation.CreateDefaultDisplayNodes()
    import_result(reference_result(tree), segmentation, ct)
    view = RecordingView()
    controller = ModuleController(view, SALTSegmentation.SALTSegmentationLogic(), sys.executable, SubprocessRunner,
                                  Probe())
    return scene, segmentation, view, controller
