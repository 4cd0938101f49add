"""What the widget does around process events, through its Qt-free controller: dialogs wait until
the process slot has returned (no nested event loop inside ``_read_stdout``: output keeps its order
and a retry never starts inside the slot); the module's log collects the engine's stderr, helper
processes' output and the module's messages, and error dialogs carry its last lines as details;
closing the module (Reload, exit) starts no process and lets no callback reach the widgets."""
from __future__ import annotations

import sys
import time

from slicer_test_support import fake_python_slicer, process_gone
from controller_support import FakeJob, Probe, RecordingView, ScriptedLogic
from test_models_helpers import (isolated_home, model_folder, serve_model, server,  # noqa: F401
                                 visible_models, write_catalog)

from saltseg.errors import OutOfMemoryError
from SALTSegmentationLib.processes.engine_job import engine_error
from SALTSegmentationLib.processes.dependencies import DependencyProbe
from SALTSegmentationLib.processes.process_runner import SubprocessRunner
from SALTSegmentationLib.widgets.activity_log import ActivityLog
from SALTSegmentationLib.widgets.controller import ModuleController

MODEL_ID = "test-model"


def deferred_controller(view, logic=None, runner_factory=SubprocessRunner, python=sys.executable):
    """A controller whose deferred actions wait in ``pending`` (the widget: QTimer.singleShot(0, …))."""
    pending: list = []
    ctl = ModuleController(view, logic or ScriptedLogic(), python, runner_factory, Probe(), defer=pending.append)
    return ctl, pending


def test_error_and_cpu_retry_wait_until_the_engine_slot_has_returned():
    view = RecordingView(answers=[True])
    view.device = "cuda"
    ctl, pending = deferred_controller(view)
    ctl.on_segment_clicked()
    first = ctl.logic.currentJob
    first.end(FakeJob.FAILED, OutOfMemoryError("CUDA out of memory while running window 3 of 40"))  # the slot
    # The slot returned without a dialog and without starting the retry.
    assert view.errors == [] and view.questions == [] and len(ctl.logic.jobs) == 1
    assert view.button[0] == "Segment" and len(pending) == 1
    pending.pop(0)()  # the event loop runs the deferred action
    assert view.errors == ["CUDA out of memory while running window 3 of 40"]
    assert "CUDA out of memory" in view.details[0]  # the log's last lines as details
    assert len(view.questions) == 1 and "Retry on the CPU" in view.questions[0]
    assert len(ctl.logic.jobs) == 2 and ctl.logic.jobs[1].device == "cpu" and view.device == "cpu"


def test_download_offer_waits_until_the_slot_has_returned():
    view = RecordingView(answers=[False])
    ctl, pending = deferred_controller(view)
    ctl.on_segment_clicked()
    ctl.logic.currentJob.end(FakeJob.FAILED, engine_error("ModelNotInstalledError", "model 'm' is not installed"))
    assert view.questions == [] and len(pending) == 1
    pending.pop(0)()
    assert view.questions == ["The model 'm' is not installed yet. Download it now?"]
    assert "Manage" in view.status


FAILING_TOOL = r"""
import sys
for number in range(1, 6):
    sys.stderr.write(f"step {number}\n"); sys.stderr.flush()
sys.exit(3)
"""


def test_process_output_keeps_its_order_and_the_error_dialog_shows_it_afterwards():
    view = RecordingView()
    ctl, pending = deferred_controller(view)
    ctl.tasks.start("install", [[sys.executable, "-c", FAILING_TOOL]], "Installing…", "Installed.")
    task = ctl.task
    assert task.wait(60)
    # All output arrived, in order, in the log panel; the dialog has not opened inside the slot.
    steps = [line.split("] ", 1)[1] for line in view.log if "[install]" in line]
    assert steps == [f"step {n}" for n in range(1, 6)]
    assert view.errors == [] and len(pending) == 1
    pending.pop(0)()
    assert len(view.errors) == 1 and "exited with code 3" in view.errors[0]
    details = view.details[0].splitlines()
    positions = [next(i for i, line in enumerate(details) if line.endswith(f"step {n}")) for n in range(1, 6)]
    assert positions == sorted(positions) and details[-1].endswith(view.errors[0].splitlines()[-1])


def test_log_keeps_lines_in_order_bounded_and_split():
    shown: list[str] = []
    log = ActivityLog(on_line=shown.append, max_lines=3, clock=lambda: "12:00:00")
    log.add("engine", "first\nsecond\n\n")
    log.add("module", "third")
    log.add("engine", "fourth")
    assert shown == ["12:00:00 [engine] first", "12:00:00 [engine] second", "12:00:00 [module] third",
                     "12:00:00 [engine] fourth"]
    assert log.text().splitlines() == shown[1:] and log.tail(1) == shown[-1]


def test_engine_stderr_reaches_the_log(tmp_path):
    """A real engine behind a launcher that writes a warning on stderr (as the CTK launcher can):
    the line is in the module's log, next to the engine's error."""
    from slicer_test_support import install_scripted_module_shim, load_ct, new_scene, require_shared_data

    require_shared_data()
    install_scripted_module_shim()
    import SALTSegmentation

    launcher = tmp_path / "PythonSlicer"
    launcher.write_text(f'#!/bin/sh\necho "launcher: a warning on stderr" >&2\nexec "{sys.executable}" "$@"\n')
    launcher.chmod(0o755)
    logic = SALTSegmentation.SALTSegmentationLogic()
    logic.engine.python = str(launcher)
    view = RecordingView()
    ctl = ModuleController(view, logic, str(launcher), SubprocessRunner, Probe())
    scene = new_scene()
    view.volume = load_ct(scene)
    view.run_settings = lambda: __import__("controller_support").RunSettings(
        view.volume, None, str(tmp_path / "no-model-here"), "cpu", {})
    try:
        ctl.on_segment_clicked()
        assert logic.currentJob.wait(120)
    finally:
        logic.shutdownEngine()
    assert any("[engine] launcher: a warning on stderr" in line for line in view.log), view.log
    assert len(view.errors) == 1 and "no-model-here" in view.details[0]


def test_closing_the_module_during_a_download_starts_nothing_and_reaches_no_widget(
        isolated_home, server, model_folder, tmp_path, monkeypatch):
    serve_model(server, model_folder)
    monkeypatch.setenv("SALTSEG_CATALOG", str(write_catalog(tmp_path / "catalog.json", MODEL_ID, server.base,
                                                            model_folder)))
    server.chunk, server.chunk_delay = 1024, 0.02  # a few seconds for model.pt
    started: list[SubprocessRunner] = []

    def counting_runner() -> SubprocessRunner:
        started.append(SubprocessRunner())
        return started[-1]

    view = RecordingView()
    progress: list[int] = []
    view.set_progress = lambda visible, percent=0, text="": progress.append(percent) if visible else None
    ctl = ModuleController(view, ScriptedLogic(), fake_python_slicer(tmp_path), counting_runner, DependencyProbe())
    ctl.download_model(MODEL_ID)
    task = ctl.task
    deadline = time.monotonic() + 60
    while not any(p > 0 for p in progress):
        assert time.monotonic() < deadline and not task.finished, task.error
        task.wait(timeout=0.05)
    pids = [task.runner.pid(), task.child_pid]
    seen = (view.status, len(view.log), len(progress), list(view.errors))
    ctl.shutdown()  # what the widget's cleanup() does
    assert task.cancelled and len(started) == 1  # no model-list refresh was started
    assert [process_gone(pid, 5) for pid in pids] == [True, True]
    assert (view.status, len(view.log), len(progress), list(view.errors)) == seen  # nothing reached the view
    ctl.on_enter()
    ctl.refresh_models()
    assert len(started) == 1 and visible_models(isolated_home) == []


def test_the_qt_view_implements_everything_the_controller_calls():
    """ModuleView needs Qt (not importable here): its methods are read from its source."""
    import ast
    import inspect

    from slicer_test_support import MODULE_DIR
    from SALTSegmentationLib.widgets.controller import View

    source = (MODULE_DIR / "SALTSegmentationLib" / "widgets" / "module_view.py").read_text()
    (view_class,) = [node for node in ast.parse(source).body if isinstance(node, ast.ClassDef)]
    methods = {node.name: node for node in view_class.body if isinstance(node, ast.FunctionDef)}
    attributes = {target.attr for node in ast.walk(methods["__init__"]) if isinstance(node, ast.Assign)
                  for target in node.targets if isinstance(target, ast.Attribute)}
    required = {name for name, member in vars(View).items() if callable(member) and not name.startswith("_")}
    assert required - set(methods) - attributes == set()
    for name in required & set(methods):  # same parameters as the protocol
        expected = [p for p in inspect.signature(getattr(View, name)).parameters]
        assert [a.arg for a in methods[name].args.args] == expected, name
