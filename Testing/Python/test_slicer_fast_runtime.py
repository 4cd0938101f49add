"""The module's first CPU run offers the faster CPU runtime in Slicer's words (never the runtime's
name): declining segments at once and is not asked again; accepting runs pip in a process (with
progress and Cancel like the PyTorch install) and segments when it is done; Cancel segments
nothing. GPU runs are not offered it. pip runs for real, on a local package folder (--dry-run:
nothing is installed) or against a local index that never answers (for Cancel)."""
from __future__ import annotations

import socket
import sys
import zipfile

import pytest

import slicer_test_support  # noqa: F401  (path set-up)
from SALTSegmentationLib.processes.dependencies import FAST_RUNTIME_REQUIREMENTS
from SALTSegmentationLib.processes.process_runner import SubprocessRunner
from SALTSegmentationLib.widgets.controller import SEGMENT, ModuleController
from controller_support import FakeJob, Probe, RecordingView, ScriptedLogic

GPU_DEVICES = [{"name": "auto", "available": True, "reason": ""}, {"name": "cpu", "available": True, "reason": ""},
               {"name": "cuda", "available": True, "reason": ""}]


def controller(view, fast_runtime=False):
    probe = Probe()
    probe.fast_runtime = fast_runtime
    return ModuleController(view, ScriptedLogic(), sys.executable, SubprocessRunner, probe)


def local_wheel(folder) -> str:
    """A minimal wheel in ``folder`` for pip to resolve offline."""
    name, version = "saltseg_offer_probe", "1.0"
    info = f"{name}-{version}.dist-info"
    files = {f"{name}/__init__.py": "",
             f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
             f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"}
    files[f"{info}/RECORD"] = "".join(f"{path},,\n" for path in files) + f"{info}/RECORD,,\n"
    with zipfile.ZipFile(folder / f"{name}-{version}-py3-none-any.whl", "w") as wheel:
        for path, text in files.items():
            wheel.writestr(path, text)
    return name


def test_cpu_run_offers_it_once_in_slicer_words_and_declining_segments_now():
    view = RecordingView(answers=[False])
    ctl = controller(view)
    ctl.on_segment_clicked()
    assert len(view.questions) == 1 and "faster CPU runtime" in view.questions[0]
    assert "openvino" not in view.questions[0].lower()
    assert len(ctl.logic.jobs) == 1 and ctl.task is None  # torch, right away
    ctl.logic.currentJob.end(FakeJob.SUCCEEDED, result=type("R", (), {"present_values": [], "model_reused": False,
                                                                      "warnings": []})())
    ctl.on_segment_clicked()
    assert len(view.questions) == 1 and len(ctl.logic.jobs) == 2  # not asked again


def test_not_offered_for_gpu_runs_or_when_installed():
    view = RecordingView()
    ctl = controller(view)
    ctl.model_list.show([], GPU_DEVICES)
    assert not ctl.offers.runs_on_cpu("auto") and ctl.offers.runs_on_cpu("cpu")
    ctl.on_segment_clicked()  # auto with a GPU: no question (the answers list is empty)
    assert view.questions == [] and len(ctl.logic.jobs) == 1
    installed = controller(RecordingView(), fast_runtime=True)
    installed.on_segment_clicked()
    assert installed.view.questions == [] and len(installed.logic.jobs) == 1


def test_the_offer_installs_what_pyprojects_extras_name():
    from pathlib import Path

    tomllib = pytest.importorskip("tomllib")  # Python ≥ 3.11

    extras = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())[
        "project"]["optional-dependencies"]
    assert sorted(FAST_RUNTIME_REQUIREMENTS) == sorted(extras["openvino"]) == sorted(extras["fast-cpu"])


def test_accepting_installs_in_a_process_then_segments(tmp_path):
    name = local_wheel(tmp_path)
    view = RecordingView(answers=[True])
    ctl = controller(view)
    ctl.offers.fast_runtime_pip_args = ["--dry-run", "--no-index", "--find-links", str(tmp_path), name]
    ctl.on_segment_clicked()
    task = ctl.task
    assert task is not None and ctl.task_kind == "install" and ctl.logic.jobs == []
    assert view.button == (SEGMENT, False) and view.progress[0]  # Segment waits for the install
    assert task.wait(120), "pip did not finish"
    assert task.error is None, task.error
    assert len(ctl.logic.jobs) == 1  # segmenting started when the install was done
    assert view.status == "Starting the engine…" and view.button[0] == "Cancel"  # the run, not the install


def test_cancel_stops_the_install_and_segments_nothing(tmp_path):
    silent = socket.socket()  # an index that accepts connections and never answers
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    try:
        view = RecordingView(answers=[True])
        ctl = controller(view)
        ctl.offers.fast_runtime_pip_args = ["--dry-run", "--index-url", f"http://127.0.0.1:{silent.getsockname()[1]}/simple",
                                     "--timeout", "60", "--retries", "0", "saltseg-offer-probe"]
        ctl.on_segment_clicked()
        task = ctl.task
        ctl.cancel_task()
        assert task.wait(30) and task.cancelled and view.status == "Cancelled."
        assert ctl.logic.jobs == [] and view.button == (SEGMENT, True)
    finally:
        silent.close()
