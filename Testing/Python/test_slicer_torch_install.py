"""Installing PyTorch and the engine's packages from the module: PyTorch through light-the-torch
processes, also where the PyTorch extension's ``PyTorchUtils`` module is importable (a small real
module on ``sys.path`` stands in for that other extension and records any call; a real launcher
script records the command lines and the constraints file it was given), and every pip install
held to the versions of Slicer's own SimpleITK, numpy, VTK and requests — checked with real pip."""
from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import slicer_test_support  # noqa: F401  (path set-up)
from SALTSegmentationLib.processes.pip_constraints import (SLICER_OWN_PACKAGES, constraint_lines,
                                                         slicer_pip_install_arguments, write_constraints)
from SALTSegmentationLib.processes.process_runner import SubprocessRunner
from SALTSegmentationLib.widgets.controller import ModuleController
from controller_support import Probe, RecordingView, ScriptedLogic

#: The stand-in for the PyTorch extension's module: the signature of fepegar/SlicerPyTorch's
#: ``PyTorchUtilsLogic.installTorch``; it records its arguments, the PIP_CONSTRAINT its pip child
#: process would inherit and that file's text, then behaves as configured in ``behaviour.json``.
PYTORCH_UTILS = '''
import json, os, types
from pathlib import Path
from urllib.parse import unquote, urlsplit

HERE = Path(__file__).parent

class PyTorchUtilsLogic:
    def installTorch(self, askConfirmation=False, forceComputationBackend=None,
                     torchVersionRequirement=None, torchvisionVersionRequirement=None):
        uri = os.environ.get("PIP_CONSTRAINT", "")
        files = [item for item in uri.split() if item.startswith("file:")]  # pip splits at whitespace
        text = Path(unquote(urlsplit(files[-1]).path)).read_text() if files else None
        (HERE / "calls.json").write_text(json.dumps({
            "askConfirmation": askConfirmation, "forceComputationBackend": forceComputationBackend,
            "torchVersionRequirement": torchVersionRequirement, "pip_constraint": uri, "constraints": text}))
        behaviour = json.loads((HERE / "behaviour.json").read_text())
        if behaviour == "fail":
            raise RuntimeError("pip failed: no space left on device")
        if behaviour == "declined":
            return None
        torch = types.ModuleType("torch")
        torch.__version__ = behaviour
        return torch
'''

#: A launcher standing in for ``PythonSlicer``: records its argument list and the text of the
#: constraints file after ``-c`` (read while the process runs), and succeeds.
RECORDING_PYTHON = '''
import json, sys
from pathlib import Path

args = sys.argv[1:]
constraints = Path(args[args.index("-c") + 1]).read_text() if "-c" in args else None
with open(sys.argv[0] + ".calls", "a") as calls:
    calls.write(json.dumps({"args": args, "constraints": constraints}) + "\\n")
'''


def slicer_pins() -> dict[str, str]:
    """What Slicer's Python has installed of its own packages (here: the test environment's)."""
    pins = {}
    for name in SLICER_OWN_PACKAGES:
        try:
            pins[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pass
    assert "numpy" in pins and "SimpleITK" in pins  # the engine's own dependencies: always there
    return pins


def assert_pins_all(constraints_text: str) -> None:
    lines = {line for line in constraints_text.splitlines() if line and not line.startswith("#")}
    assert lines == {f"{name}=={version}" for name, version in slicer_pins().items()}


@pytest.fixture()
def pytorch_extension(tmp_path, monkeypatch):
    folder = tmp_path / "PyTorch extension"
    folder.mkdir()
    (folder / "PyTorchUtils.py").write_text(PYTORCH_UTILS)
    monkeypatch.syspath_prepend(str(folder))
    monkeypatch.delitem(sys.modules, "PyTorchUtils", raising=False)
    yield folder
    sys.modules.pop("PyTorchUtils", None)


def torch_offer(tmp_path, python=sys.executable):
    """A controller whose Segment finds no PyTorch and whose user accepts the install."""
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    view = RecordingView(answers=[True])
    ctl = ModuleController(view, ScriptedLogic(), python, SubprocessRunner, Probe(torch=None),
                           scratch_folder=str(scratch))
    return view, ctl, scratch


def recording_launcher(tmp_path) -> Path:
    launcher = tmp_path / "PythonSlicer"
    launcher.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{tmp_path / "record.py"}" "$@"\n')
    launcher.chmod(0o755)
    (tmp_path / "record.py").write_text(RECORDING_PYTHON)
    return launcher


@pytest.mark.skipif(sys.platform == "win32", reason="the recording launcher is a POSIX shell script")
def test_with_the_pytorch_extension_torch_is_still_installed_in_processes_not_in_slicer(
        tmp_path, pytorch_extension):
    # installTorch would block Slicer, add torchvision and import torch into Slicer's process.
    (pytorch_extension / "behaviour.json").write_text(json.dumps("2.5.1+cpu"))
    launcher = recording_launcher(tmp_path)
    view, ctl, scratch = torch_offer(tmp_path, python=str(launcher))
    ctl.on_segment_clicked()
    task = ctl.task
    assert task is not None and ctl.task_kind == "install"
    assert task.wait(60) and task.error is None
    assert not (pytorch_extension / "calls.json").exists()  # the extension's installTorch was not called
    calls = [json.loads(line) for line in (tmp_path / "record.py.calls").read_text().splitlines()]
    assert calls[-1]["args"][:calls[-1]["args"].index("-c")] == [
        "-m", "saltseg.service.run_module", "light_the_torch", "install", "torch>=2.1"]  # no torchvision
    assert view.status == "PyTorch is installed; press Segment."


def test_without_the_extension_light_the_torch_runs_in_processes_held_to_the_constraints(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "PyTorchUtils", None)  # import PyTorchUtils fails: no extension
    launcher = recording_launcher(tmp_path)
    view, ctl, scratch = torch_offer(tmp_path, python=str(launcher))
    ctl.on_segment_clicked()
    task = ctl.task
    assert task is not None and ctl.task_kind == "install"
    assert task.wait(60) and task.error is None
    calls = [json.loads(line) for line in (tmp_path / "record.py.calls").read_text().splitlines()]
    commands = [call["args"][:call["args"].index("-c")] for call in calls]
    assert commands == [["-m", "saltseg.service.run_module", "pip", "install", "light-the-torch>=0.5"],
                        ["-m", "saltseg.service.run_module", "light_the_torch", "install", "torch>=2.1"]]
    for call in calls:
        assert_pins_all(call["constraints"])
    assert view.status == "PyTorch is installed; press Segment."
    assert list(scratch.iterdir()) == []  # the constraints folder goes with the task


@pytest.mark.skipif(sys.platform == "win32", reason="the recording launcher is a POSIX shell script")
def test_cancelled_light_the_torch_install_removes_its_constraints(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "PyTorchUtils", None)
    launcher = tmp_path / "PythonSlicer"
    launcher.write_text("#!/bin/sh\nexec sleep 60\n")
    launcher.chmod(0o755)
    view, ctl, scratch = torch_offer(tmp_path, python=str(launcher))
    ctl.on_segment_clicked()
    assert len(list(scratch.iterdir())) == 1  # the running install's constraints
    ctl.cancel_task()
    assert view.status == "Cancelled." and list(scratch.iterdir()) == []



@pytest.mark.skipif(sys.platform == "win32", reason="the recording launcher is a POSIX shell script")
def test_closing_the_module_during_a_light_the_torch_install_removes_its_constraints(tmp_path, monkeypatch):
    # shutdown() (Reload, application exit) cuts the task's follow-ups; the scratch files must still go.
    monkeypatch.setitem(sys.modules, "PyTorchUtils", None)
    launcher = tmp_path / "PythonSlicer"
    launcher.write_text("#!/bin/sh\nexec sleep 60\n")
    launcher.chmod(0o755)
    view, ctl, scratch = torch_offer(tmp_path, python=str(launcher))
    ctl.on_segment_clicked()
    assert len(list(scratch.iterdir())) == 1
    ctl.shutdown()
    assert list(scratch.iterdir()) == []

def test_the_engine_packages_are_installed_held_to_the_constraints(tmp_path):
    view = RecordingView(answers=[True, False])
    ctl = ModuleController(view, ScriptedLogic(), sys.executable, SubprocessRunner,
                           Probe(torch=None, missing=["scipy>=1.9"]), scratch_folder=str(tmp_path))
    ctl.on_segment_clicked()
    assert view.installed == [["scipy>=1.9"]]
    assert_pins_all(view.constraints[0])
    assert list(tmp_path.iterdir()) == []


def test_slicer_pip_install_gets_the_constraints_in_the_form_its_version_takes(tmp_path):
    path = tmp_path / "c.txt"
    # Slicer 5.11+: slicer.util.pip_install(requirements, constraints=..., requester=...)
    assert slicer_pip_install_arguments(["tqdm>=4.60", "scipy>=1.9"], path, True) == (
        [["tqdm>=4.60", "scipy>=1.9"]], {"constraints": str(path)})
    # before: a list of pip arguments
    assert slicer_pip_install_arguments(["tqdm>=4.60"], path, False) == ([["tqdm>=4.60", "-c", str(path)]], {})


def test_constraint_lines_pin_installed_packages_and_block_unregistered_ones(tmp_path, monkeypatch):
    (tmp_path / "slicer_built_pkg").mkdir()  # importable, but without pip metadata (a Slicer build)
    (tmp_path / "slicer_built_pkg" / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    lines = constraint_lines(["numpy", "slicer_built_pkg", "no_such_package_here"])
    assert lines == [f"numpy=={importlib.metadata.version('numpy')}", "slicer_built_pkg<0"]


def run_pip(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PIP_CONFIG_FILE=os.devnull, PIP_DISABLE_PIP_VERSION_CHECK="1")  # no machine config
    return subprocess.run([sys.executable, "-m", "pip", *args], env=env, capture_output=True, text=True,
                          timeout=120)


def test_real_pip_refuses_to_change_slicers_numpy_under_the_constraints(tmp_path):
    folder = tmp_path / "Jane Doe" / "Temp"  # a Windows user folder with a space
    folder.mkdir(parents=True)
    constraints = write_constraints(folder / "slicer-constraints.txt")
    numpy = importlib.metadata.version("numpy")
    wanted = f"numpy>{numpy}"  # what a dependency asking for a newer numpy would do
    # The fallback's way: -c on the command line.
    result = run_pip("install", "--dry-run", "--no-index", wanted, "-c", str(constraints))
    assert result.returncode != 0 and f"(constraint) numpy=={numpy}" in result.stdout + result.stderr
    # Without constraints pip only misses an index: the constraint above is what stopped it.
    unconstrained = run_pip("install", "--dry-run", "--no-index", wanted)
    assert "(constraint)" not in unconstrained.stdout + unconstrained.stderr
    # And what is already there satisfies them: an install that needs no change goes through.
    assert run_pip("install", "--dry-run", "--no-index", "numpy", "-c", str(constraints)).returncode == 0
