"""Model downloads from the module run in a process (the engine's model commands) with progress
and Cancel, against a real HTTP server: Cancel ends the process quickly and installs nothing, the
next download works, and the model list is read again after it."""
from __future__ import annotations

import os
import sys
import time

from test_controller_support import RecordingView, ScriptedLogic  # noqa: F401
from test_models_helpers import (isolated_home, model_folder, serve_model, server,  # noqa: F401
                                 visible_models, write_catalog)

from SALTSegmentationLib.controller import ModuleController
from SALTSegmentationLib.dependencies import DependencyProbe
from SALTSegmentationLib.process_runner import SubprocessRunner

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
    ctl = ModuleController(view, ScriptedLogic(), sys.executable, SubprocessRunner, DependencyProbe())

    ctl.download_model(MODEL_ID)
    task = ctl.task
    deadline = time.monotonic() + 60
    while not any(p > 0 for p in progress):
        assert time.monotonic() < deadline and not task.finished, task.error
        task.wait(timeout=0.05)
    pid = task.runner.pid()
    started = time.perf_counter()
    ctl.cancel_task()
    assert task.finished and task.cancelled and view.status == "Cancelled."
    try:
        os.kill(pid, 0)
        alive = True
    except ProcessLookupError:
        alive = False
    assert not alive and time.perf_counter() - started < 2.0
    assert visible_models(isolated_home) == []

    server.chunk_delay = 0.0
    ctl.task.wait(60)  # the list refresh that follows every transfer
    ctl.download_model(MODEL_ID)
    assert ctl.task.wait(60)
    assert view.status == f"{MODEL_ID} is installed." and visible_models(isolated_home) == [MODEL_ID]
    assert ctl.task.wait(60)  # the model list is read again ...
    installed = {choice.id: choice.installed for choice in view.models}
    assert installed[MODEL_ID] is True  # ... and now shows the model as installed
