"""Model downloads from the module run in a process (the engine's model commands) with progress
and Cancel, against a real HTTP server: Cancel ends the process quickly and installs nothing, the
next download works, and the model list is read again after it."""
from __future__ import annotations

import time

from slicer_test_support import fake_python_slicer, process_gone
from controller_support import RecordingView, ScriptedLogic  # noqa: F401
from test_models_helpers import (isolated_home, model_folder, serve_model, server,  # noqa: F401
                                 visible_models, write_catalog)

from SALTSegmentationLib.widgets.controller import ModuleController
from SALTSegmentationLib.processes.dependencies import DependencyProbe
from SALTSegmentationLib.processes.process_runner import SubprocessRunner

MODEL_ID = "test-model"


def test_download_shows_progress_cancels_quickly_and_refreshes_the_list(isolated_home, server, model_folder,
                                                                        tmp_path, monkeypatch):
    serve_model(server, model_folder)
    monkeypatch.setenv("SALTSEG_CATALOG", str(write_catalog(tmp_path / "catalog.json", MODEL_ID, server.base,
                                                            model_folder)))
    server.chunk, server.chunk_delay = 1024, 0.02  # a few seconds for model.pt
    view = RecordingView()
    progress: list[int] = []
    view.set_progress = lambda visible, percent=0, text="": progress.append(percent) if visible else None
    # Through a launcher like Slicer's PythonSlicer (the real Python is its child): Cancel ends both.
    ctl = ModuleController(view, ScriptedLogic(), fake_python_slicer(tmp_path), SubprocessRunner, DependencyProbe())

    ctl.download_model(MODEL_ID)
    task = ctl.task
    deadline = time.monotonic() + 60
    while not any(p > 0 for p in progress):
        assert time.monotonic() < deadline and not task.finished, task.error
        task.wait(timeout=0.05)
    pids = [task.runner.pid(), task.child_pid]
    assert pids[1] not in (None, pids[0])
    started = time.perf_counter()
    ctl.cancel_task()
    assert task.finished and task.cancelled and view.status == "Cancelled."
    assert [process_gone(pid, 2.0 - (time.perf_counter() - started)) for pid in pids] == [True, True]
    assert visible_models(isolated_home) == []

    server.chunk_delay = 0.0
    ctl.task.wait(60)  # the list refresh that follows every transfer
    ctl.download_model(MODEL_ID)
    assert ctl.task.wait(60)
    assert view.status == f"{MODEL_ID} is installed." and visible_models(isolated_home) == [MODEL_ID]
    assert ctl.task.wait(60)  # the model list is read again ...
    installed = {choice.id: choice.installed for choice in view.models}
    assert installed[MODEL_ID] is True  # ... and now shows the model as installed


def test_pip_behind_the_launcher_reports_its_pid_and_cancel_ends_it(tmp_path):
    """PyTorch is installed with pip and light-the-torch in Slicer's Python, through a launcher
    like PythonSlicer: Cancel must end the installer itself. A server that never ends stands in
    for a long pip run; a failing module shows its exit."""
    from SALTSegmentationLib.processes.process_task import ProcessTask, module_command

    launcher = fake_python_slicer(tmp_path)
    task = ProcessTask([module_command(launcher, "http.server", "0", "--bind", "127.0.0.1")],
                       SubprocessRunner).start()
    deadline = time.monotonic() + 30
    while task.child_pid is None:
        assert time.monotonic() < deadline and not task.finished, task.error
        task.wait(timeout=0.05)
    pids = [task.runner.pid(), task.child_pid]
    assert pids[1] != pids[0]
    started = time.perf_counter()
    task.cancel()
    assert task.cancelled
    assert [process_gone(pid, 2.0 - (time.perf_counter() - started)) for pid in pids] == [True, True]

    failing = ProcessTask([module_command(launcher, "json.tool", str(tmp_path / "missing.json"))], SubprocessRunner)
    assert failing.start().wait(30)
    assert failing.error.startswith("PythonSlicer -m json.tool")  # named as the user would run it
    assert "exited with code 2" in failing.error and "missing.json" in failing.error  # argparse's exit code
