"""The module's Logic runs the engine in a separate, real OS process (Slicer's Python; here
``sys.executable``): this process never imports torch, Cancel and a killed engine leave the scene
as it was with no temporary files (Cancel keeps the engine and its model; Cancel pressed again
ends the engine process), the engine's error text arrives verbatim, closing the scene cancels,
and the loaded model is reused by the next run."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from slicer_test_support import (fake_python_slicer, install_scripted_module_shim, load_ct, new_scene,  # noqa: F401
                                 process_gone, published_tree, require_shared_data, scene_snapshot,
                                 threshold_model_dir)

install_scripted_module_shim()
import SALTSegmentation  # noqa: E402
from saltseg.errors import Cancelled, ModelError  # noqa: E402
from SALTSegmentationLib.processes.engine_job import EngineCrashed, EngineJob  # noqa: E402

DEMO = "salt-phantom-demo"  # bundled; long enough on the shared CT to act during inference


def engine_temp_dirs() -> set[str]:
    return {p.name for p in Path(tempfile.gettempdir()).glob("SALTSegmentation-*")}


@pytest.fixture(autouse=True)
def private_temp_dir(tmp_path, monkeypatch):
    """The runs' temporary folders go to a folder of this test only (other runs may share /tmp)."""
    folder = tmp_path / "temp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def at_stage(stage: str, action, stages: list):
    """A progress callback that records the stages and runs ``action`` once, from inside the
    callback, when ``stage`` is first reported: the job cannot have finished before it."""

    def progress(reported: str, fraction: float) -> None:
        stages.append(reported)
        if reported == stage and stages.count(stage) == 1:
            action()

    return progress


@pytest.fixture()
def logic():
    logic = SALTSegmentation.SALTSegmentationLogic()
    yield logic
    logic.shutdownEngine()


BLOCKING_RUN_WITHOUT_TORCH = r"""
import sys
sys.path.insert(0, sys.argv[1])
from slicer_test_support import install_scripted_module_shim, load_ct, new_scene
install_scripted_module_shim()
import SALTSegmentation
scene = new_scene()
logic = SALTSegmentation.SALTSegmentationLogic()
node = logic.segment(load_ct(scene), model=sys.argv[2], device="cpu")
assert node.GetSegmentation().GetNumberOfSegments() == 3
logic.shutdownEngine()
print("torch imported:", "torch" in sys.modules)
"""


def test_blocking_run_never_imports_torch_in_the_slicer_process(threshold_model_dir):
    # A fresh interpreter: this pytest session has imported torch for other tests.
    run = subprocess.run([sys.executable, "-c", BLOCKING_RUN_WITHOUT_TORCH, str(Path(__file__).parent),
                          str(threshold_model_dir)], capture_output=True, text=True, timeout=180)
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.strip().endswith("torch imported: False")


def test_second_run_reuses_the_loaded_model_until_the_idle_timeout(logic, threshold_model_dir):
    logic.engineIdleTimeout = 3.0
    scene = new_scene()
    volume = load_ct(scene)
    first = logic.segment(volume, model=str(threshold_model_dir), device="cpu")
    pid = logic.engine.engine_pid
    assert not logic.currentJob.result.model_reused
    logic.segment(volume, first, model=str(threshold_model_dir), device="cpu")
    assert logic.currentJob.result.model_reused and logic.engine.engine_pid == pid
    assert first.GetSegmentation().GetNumberOfSegments() == 3
    assert engine_temp_dirs() == set()  # the runs' temporary folders are gone after success too
    runner, deadline = logic.engine.runner, time.monotonic() + 30
    while logic.engine.runner is not None:  # idle: the engine says goodbye and exits by itself
        assert time.monotonic() < deadline
        runner.wait_for_activity(0.1)
    assert process_gone(pid, 2.0)
    logic.segment(volume, first, model=str(threshold_model_dir), device="cpu")
    assert logic.engine.engine_pid != pid and not logic.currentJob.result.model_reused


def test_crash_messages_name_the_cause():
    from SALTSegmentationLib.processes.engine_session import describe_exit

    assert "segmentation fault" in describe_exit(139, True, "")
    assert "memory ran out" in describe_exit(137, True, "")
    assert "could not be started" in describe_exit(-1, True, "")
    assert describe_exit(1, False, "line 1\nTraceback\nValueError: boom").endswith("ValueError: boom")
    # Behind Slicer's PythonSlicer launcher a killed engine is the launcher's exit code 1 and its message.
    behind_launcher = describe_exit(1, False,
                                    "error: [/opt/Slicer/bin/python-real] exit abnormally - Report the problem.")
    assert "killed" in behind_launcher and "memory" in behind_launcher and "code 1" not in behind_launcher


def test_cancel_ends_the_run_and_keeps_the_engine_with_its_model(logic, tmp_path, monkeypatch):
    """Cancel asks the engine to stop after the window it computes: the job ends cancelled with the
    scene as it was, the run's temporary folder goes once the engine has ended the request (its
    files closed), and the engine stays, so the next run starts with the model already loaded."""
    require_shared_data()
    from SALTSegmentationLib.processes import engine_job, temp_folder

    removals = []

    def remove_folder_recorded(path):
        removals.append((path, logic.currentJob.state))
        return temp_folder.remove_folder(path)

    monkeypatch.setattr(engine_job, "remove_folder", remove_folder_recorded)
    scene = new_scene()
    volume = load_ct(scene)
    before, temps_before = scene_snapshot(scene), engine_temp_dirs()
    stages: list[str] = []
    finished: list[EngineJob] = []
    seen: dict = {}

    def cancel_now() -> None:  # the user presses Cancel while the engine works
        seen.update(pid=logic.engine.engine_pid)
        logic.cancel()
        seen.update(state=logic.currentJob.state)

    logic.segment(volume, model=DEMO, device="cpu", wait=False,
                  progress=at_stage("inference", cancel_now, stages), onFinished=finished.append)
    job = logic.currentJob
    assert job.wait(timeout=120) and seen
    assert seen["state"] == EngineJob.CANCELLING  # not finished before the engine says so
    assert job.state == EngineJob.CANCELLED and isinstance(job.error, Cancelled)
    assert finished == [job]
    assert removals == [(removals[0][0], EngineJob.CANCELLED)]
    assert scene_snapshot(scene) == before
    assert engine_temp_dirs() == temps_before
    assert not process_gone(seen["pid"], 0.5)
    logic.segment(volume, model=DEMO, device="cpu")
    assert logic.engine.engine_pid == seen["pid"]
    assert logic.currentJob.result.model_reused


def test_cancel_pressed_again_ends_the_engine_at_once_and_leaves_nothing_behind(logic, tmp_path, monkeypatch):
    """Through a launcher like Slicer's PythonSlicer, which runs the real Python as its child:
    the second Cancel must end the engine itself, not only the launcher, and remove the run's
    temporary folder only once the engine has ended (on Windows its open files would block the
    removal)."""
    require_shared_data()
    from SALTSegmentationLib.processes import engine_job, temp_folder

    removals = []

    def remove_folder_recorded(path):
        removals.append((path, [process_gone(p, 0) for p in (seen["pid"], seen["launcher"])]))
        return temp_folder.remove_folder(path)

    monkeypatch.setattr(engine_job, "remove_folder", remove_folder_recorded)
    logic.engine.python = fake_python_slicer(tmp_path)
    scene = new_scene()
    volume = load_ct(scene)
    before, temps_before = scene_snapshot(scene), engine_temp_dirs()
    assert temps_before == set()
    stages: list[str] = []
    finished: list[EngineJob] = []
    seen: dict = {}

    def cancel_twice() -> None:  # the user presses Cancel, then Cancel again (the widget: at once)
        seen.update(pid=logic.engine.engine_pid, launcher=logic.engine.runner.pid(), started=time.perf_counter())
        logic.cancel()
        logic.cancel()  # asked again: nothing changes
        seen.update(asked_twice=logic.currentJob.state)
        logic.cancel(atOnce=True)

    node = logic.segment(volume, model=DEMO, device="cpu", wait=False,
                         progress=at_stage("inference", cancel_twice, stages), onFinished=finished.append)
    assert node.GetScene() is scene and logic.currentJob.state == EngineJob.RUNNING  # returned at once
    assert logic.currentJob.wait(timeout=120) and seen
    pid, launcher_pid = seen["pid"], seen["launcher"]
    assert seen["asked_twice"] == EngineJob.CANCELLING
    assert pid != launcher_pid
    assert [ended for _, ended in removals] == [[True, True]]  # both had ended when the folder went
    assert process_gone(pid, 2.0 - (time.perf_counter() - seen["started"]))
    assert process_gone(launcher_pid, 0.5)
    assert logic.currentJob.state == EngineJob.CANCELLED and isinstance(logic.currentJob.error, Cancelled)
    assert finished == [logic.currentJob]
    assert scene_snapshot(scene) == before
    assert engine_temp_dirs() == temps_before


def test_a_cancel_sent_right_after_its_request_cancels_it(tmp_path):
    """The engine reads its stdin on a thread while the main thread parses the request (importing
    torch first): a cancel arriving then must cancel that request, not be dropped because no run
    had begun, and the engine answers the next request as usual."""
    require_shared_data()
    import json

    from slicer_test_support import CT_PATH
    from SALTSegmentationLib.processes.engine_session import engine_environment

    engine = subprocess.Popen([sys.executable, "-m", "saltseg.service", "serve", "--idle-timeout", "0"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=engine_environment(),
                              start_new_session=True)
    assert engine.stdin is not None and engine.stdout is not None

    def send(request: dict) -> None:
        engine.stdin.write(json.dumps(request) + "\n")
        engine.stdin.flush()

    def last_event() -> dict:
        while True:
            event = json.loads(engine.stdout.readline())
            if event["event"] in ("done", "error"):
                return event

    try:
        request = {"op": "segment", "input": str(CT_PATH), "labelmap": str(tmp_path / "out.nrrd"), "model": DEMO,
                   "device": "cpu"}
        send(request)
        send({"op": "cancel"})
        cancelled = last_event()
        send({**request, "labelmap": str(tmp_path / "next.nrrd")})
        done = last_event()
    finally:
        engine.kill()
        engine.wait()
    assert (cancelled["event"], cancelled.get("type")) == ("error", "Cancelled")
    assert not (tmp_path / "out.nrrd").exists()
    assert done["event"] == "done"


def test_killed_engine_gives_a_clear_error_and_an_unchanged_scene(logic, threshold_model_dir):
    require_shared_data()
    scene = new_scene()
    volume = load_ct(scene)
    before, temps_before = scene_snapshot(scene), engine_temp_dirs()
    assert temps_before == set()
    stages: list[str] = []
    # Killed from inside the first progress callback ("loading model"): the model load, the
    # preprocessing and the windows are still ahead of the engine then.
    kill = lambda: os.kill(logic.engine.engine_pid, signal.SIGKILL)  # noqa: E731  (the kernel's OOM killer)
    logic.segment(volume, model=DEMO, device="cpu", wait=False, progress=at_stage("loading model", kill, stages))
    assert logic.currentJob.wait(timeout=120) and stages[0] == "loading model"
    error = logic.currentJob.error
    assert logic.currentJob.state == EngineJob.FAILED and isinstance(error, EngineCrashed)
    assert "stopped unexpectedly" in str(error) and "memory" in str(error)
    assert scene_snapshot(scene) == before and engine_temp_dirs() == temps_before
    # The next run starts a fresh engine.
    node = logic.segment(volume, model=str(threshold_model_dir), device="cpu")
    assert node.GetSegmentation().GetNumberOfSegments() == 3


def test_engine_error_message_arrives_verbatim(logic, tmp_path):
    require_shared_data()
    from saltseg.model.model_io import load_model

    broken = tmp_path / "broken_model"
    broken.mkdir()
    (broken / "model.pt").write_bytes(b"not a model")
    (broken / "config.pkl").write_bytes(b"not a pickle")
    with pytest.raises(ModelError) as expected:
        load_model(broken, device="cpu")
    scene = new_scene()
    volume = load_ct(scene)
    before = scene_snapshot(scene)
    with pytest.raises(ModelError) as raised:
        logic.segment(volume, model=str(broken), device="cpu")
    assert str(raised.value) == str(expected.value)
    assert scene_snapshot(scene) == before


def test_closing_the_scene_cancels_the_run(logic):
    """The Logic cancels its run when the scene starts closing, and so does the module's widget
    (controller.on_scene_start_close): asked twice, the engine still just ends the run."""
    require_shared_data()
    scene = new_scene()
    volume = load_ct(scene)
    stages: list[str] = []
    seen: dict = {}
    widget = scene.AddObserver(scene.StartCloseEvent, lambda caller, event: logic.cancel())  # as the widget does

    def close_scene() -> None:  # the user closes the scene while the engine works
        seen["pid"] = logic.engine.engine_pid
        scene.Clear(0)

    try:
        logic.segment(volume, model=DEMO, device="cpu", wait=False,
                      progress=at_stage("inference", close_scene, stages))
        assert logic.currentJob.wait(timeout=120) and seen
    finally:
        scene.RemoveObserver(widget)
    pid = seen["pid"]
    job = logic.currentJob
    assert job.state == EngineJob.CANCELLED and isinstance(job.error, Cancelled)
    assert not process_gone(pid, 0.5)  # the engine ended the run and keeps its model for the next scene
    assert scene.GetNodesByClass("vtkMRMLSegmentationNode").GetNumberOfItems() == 0


def test_engine_leaves_at_once_when_slicer_goes_away(tmp_path):
    """Slicer quitting or crashing closes the engine's stdin: no orphan keeps computing."""
    require_shared_data()
    import json

    from slicer_test_support import CT_PATH
    from SALTSegmentationLib.processes.engine_session import engine_environment
    from SALTSegmentationLib.processes.process_runner import SubprocessRunner

    runner = SubprocessRunner()
    lines: list[str] = []
    runner.on_stdout_line = lines.append
    runner.start(sys.executable, ["-m", "saltseg.service", "serve"], engine_environment())
    runner.write_line(json.dumps({"op": "segment", "input": str(CT_PATH), "labelmap": str(tmp_path / "out.nrrd"),
                                  "model": DEMO, "device": "cpu"}))
    deadline = time.monotonic() + 60
    while not any('"inference"' in line for line in lines):
        assert time.monotonic() < deadline
        runner.wait_for_activity(0.05)
    runner._process.stdin.close()
    assert process_gone_or_reaped(runner, 2.0)
    assert not (tmp_path / "out.nrrd").exists()


def process_gone_or_reaped(runner, within: float) -> bool:
    try:
        runner._process.wait(timeout=within)
    except subprocess.TimeoutExpired:
        return False
    return True


class FailsToStartRunner:
    """Like QProcess when the start fails inside ``start()`` (Qt emits errorOccurred(FailedToStart)
    synchronously, e.g. when fork fails): the finished callback runs before ``start`` returns."""

    def __init__(self):
        self.on_stdout_line = self.on_stderr_line = self.on_finished = None

    def start(self, program, args, env=None):
        self.on_stderr_line("could not start the engine process: Resource error (fork failure)")
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


def test_a_start_failing_inside_start_fails_the_run_once_with_a_clear_message():
    from SALTSegmentationLib.scene.logic_core import SegmentationLogicCore

    require_shared_data()
    logic = SegmentationLogicCore(runner_factory=FailsToStartRunner)
    scene = new_scene()
    volume = load_ct(scene)
    before = scene_snapshot(scene)
    failures: list = []
    logic.segment(volume, model="m", wait=False, onFinished=failures.append)
    job = logic.currentJob
    assert failures == [job] and job.state == EngineJob.FAILED and isinstance(job.error, EngineCrashed)
    assert "could not be started" in str(job.error) and "fork failure" in str(job.error)
    assert scene_snapshot(scene) == before and engine_temp_dirs() == set()
