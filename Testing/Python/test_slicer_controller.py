"""The widget's behaviour through its Qt-free controller, with a recording view: button text and
state, status and error text, the out-of-memory → CPU retry (which must keep being followed),
dependency offers, the model list after installs (incl. PyTorch installed from the PyTorch
module), the model-id prompt's Cancel, and closing the scene during a run."""
from __future__ import annotations

import sys
from types import SimpleNamespace

import pytest

import slicer_test_support  # noqa: F401  (path set-up)
from saltseg.errors import OutOfMemoryError
from SALTSegmentationLib.widgets.controller import CANCEL, SEGMENT, ModuleController
from SALTSegmentationLib.processes.engine_job import engine_error
from SALTSegmentationLib.processes.process_runner import SubprocessRunner
from controller_support import FakeJob, Probe, RecordingView, ScriptedLogic


def controller(view, logic=None, probe=None, scratch=None):
    return ModuleController(view, logic or ScriptedLogic(), sys.executable, SubprocessRunner, probe or Probe(),
                            scratch_folder=scratch)


def test_button_follows_the_run_and_success_is_reported():
    view = RecordingView()
    ctl = controller(view)
    ctl.update_button()
    assert view.button == (SEGMENT, True)
    view.volume = None
    ctl.update_button()
    assert view.button == (SEGMENT, False)
    view.volume = object()
    ctl.on_segment_clicked()
    assert view.button == (CANCEL, True) and view.output == "node" and view.progress[0]
    ctl.on_progress("inference", 0.42)
    assert view.progress == (True, 42, "Inference: %p%")
    result = SimpleNamespace(present_values=[1, 2, 3], model_reused=True, warnings=["thin slices"])
    ctl.logic.currentJob.end(FakeJob.SUCCEEDED, result=result)
    assert view.button == (SEGMENT, True) and not view.progress[0]
    assert view.status.startswith("3 structures in") and "already loaded" in view.status
    assert "Warning: thin slices" in view.status


def test_cancel_button_cancels_and_says_nothing_changed():
    view = RecordingView()
    ctl = controller(view)
    ctl.on_segment_clicked()
    ctl.on_segment_clicked()  # the button now reads "Cancel"
    assert ctl.logic.currentJob.state == FakeJob.CANCELLED
    assert view.button == (SEGMENT, True) and view.status == "Cancelled; nothing was changed."


class EngineLikeCancel(ScriptedLogic):
    """Cancel as the real job does it: the run ends when the engine has stopped, or at once."""

    def cancel(self, atOnce=False):
        if atOnce:
            super().cancel()


def test_cancel_says_the_engine_is_stopping_until_it_has_and_cancel_again_ends_it():
    view = RecordingView()
    ctl = controller(view, EngineLikeCancel())
    ctl.on_segment_clicked()
    ctl.on_segment_clicked()  # Cancel
    assert view.status.startswith("Cancelling") and "Cancel again" in view.status
    assert view.button == (CANCEL, True)
    ctl.on_segment_clicked()  # Cancel again
    assert view.button == (SEGMENT, True) and view.status == "Cancelled; nothing was changed."


def test_out_of_memory_retries_on_the_cpu_and_the_retry_is_followed_to_its_end():
    view = RecordingView(answers=[True])
    view.device = "cuda"
    ctl = controller(view)
    ctl.on_segment_clicked()
    first = ctl.logic.currentJob
    first.end(FakeJob.FAILED, OutOfMemoryError("CUDA out of memory while running window 3 of 40"))
    assert view.errors == ["CUDA out of memory while running window 3 of 40"]  # verbatim
    assert "Retry on the CPU?" in view.questions[0]
    retry = ctl.logic.currentJob
    assert retry is not first and retry.device == "cpu" and view.button == (CANCEL, True)
    retry.end(FakeJob.SUCCEEDED, result=SimpleNamespace(present_values=[1], model_reused=False, warnings=[]))
    assert view.button == (SEGMENT, True) and view.status.startswith("1 structures")


def test_out_of_memory_on_the_cpu_offers_no_retry():
    view = RecordingView()
    view.device = "cpu"
    ctl = controller(view)
    ctl.on_segment_clicked()
    ctl.logic.currentJob.end(FakeJob.FAILED, OutOfMemoryError("out of memory"))
    assert view.questions == [] and len(ctl.logic.jobs) == 1


def test_model_not_installed_offers_the_download_in_slicer_terms():
    view = RecordingView(answers=[False])
    ctl = controller(view)
    ctl.on_segment_clicked()
    ctl.logic.currentJob.end(FakeJob.FAILED,
                             engine_error("ModelNotInstalledError", "... saltseg models download m ..."))
    assert "Download it now?" in view.questions[0]
    assert "saltseg models" not in view.status and "Download selected model" in view.status


def test_missing_packages_are_offered_and_the_model_list_refreshes(tmp_path):
    view = RecordingView(answers=[True, False])
    ctl = controller(view, probe=Probe(torch=None, missing=["platformdirs>=3"]), scratch=str(tmp_path))
    view.models = ["stale"]
    ctl.on_segment_clicked()
    assert view.installed == [["platformdirs>=3"]]
    assert view.models == [] and view.devices[0]["name"] == "auto"  # refreshed (folders only: no torch yet)
    assert "needs PyTorch" in view.questions[1] and ctl.logic.jobs == []  # declined: nothing runs


def test_torch_too_old_is_refused_with_the_version():
    view = RecordingView(answers=[False])
    ctl = controller(view, probe=Probe(torch="1.13.1"))
    ctl.on_segment_clicked()
    assert "2.1 or newer" in view.questions[0] and "1.13.1" in view.questions[0]
    assert ctl.logic.jobs == []


def test_model_list_comes_from_the_engine_and_refreshes_when_pytorch_appears(isolated_home):
    view = RecordingView()
    probe = Probe(torch=None)
    ctl = controller(view, probe=probe)
    ctl.on_enter()
    assert view.models == []  # no torch: the engine cannot list models yet
    probe.torch = "2.13.0"  # installed meanwhile from the PyTorch module
    ctl.on_enter()
    task = ctl.task
    assert task is not None and task.wait(60) and task.error is None and ctl.task is None
    ids = [choice.id for choice in view.models]
    assert "salt-phantom-demo" in ids  # the bundled model, listed by the engine process
    assert {d["name"] for d in view.devices} >= {"auto", "cpu"}


def test_cancel_in_the_model_id_prompt_installs_nothing(tmp_path):
    view = RecordingView(text=None)
    ctl = controller(view)
    ctl.install_model_from_file(str(tmp_path / "model.zip"))
    assert ctl.task is None and view.status == ""


def test_scene_close_during_a_run_cancels_it():
    view = RecordingView()
    ctl = controller(view)
    ctl.on_segment_clicked()
    ctl.on_scene_start_close()
    assert ctl.logic.currentJob.state == FakeJob.CANCELLED and view.button == (SEGMENT, True)


@pytest.fixture()
def isolated_home(tmp_path, monkeypatch):
    monkeypatch.setenv("SALTSEG_HOME", str(tmp_path / "home"))
    return tmp_path / "home"
