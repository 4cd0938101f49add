"""The engine must run the ``saltseg`` bundled with the module. Slicer's launcher puts its
site-packages on the path before the module's folder, so a ``pip install saltseg`` into Slicer's
Python would shadow the bundled copy in the engine process: front end and engine would disagree.
The engine's ``ready`` names its version and folder, and the module refuses any other copy with a
message saying what to do — for a segmentation and for the model list/downloads alike."""
from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

import pytest

from slicer_test_support import (MODULE_DIR, install_scripted_module_shim, load_ct, new_scene, process_gone,
                                 require_shared_data, scene_snapshot)

install_scripted_module_shim()

import SALTSegmentation  # noqa: E402
from SALTSegmentationLib.processes.engine_session import MISMATCH_KIND, bundled_version  # noqa: E402
from SALTSegmentationLib.processes.process_runner import SubprocessRunner  # noqa: E402
from SALTSegmentationLib.processes.process_task import ProcessTask, engine_command  # noqa: E402

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="the stand-in launcher is a POSIX shell script")


@pytest.fixture()
def shadowing_launcher(tmp_path) -> tuple[str, Path]:
    """A ``PythonSlicer`` stand-in whose path puts a pip-installed (older) saltseg first, as the
    CTK launcher puts Slicer's site-packages before the PYTHONPATH the module passes."""
    site_packages = tmp_path / "site-packages"
    other = site_packages / "saltseg"
    shutil.copytree(MODULE_DIR / "saltseg", other, ignore=shutil.ignore_patterns("__pycache__", "*.pt", "*.zip"))
    init = other / "__init__.py"
    init.write_text(re.sub(r'__version__ = "[^"]+"', '__version__ = "0.0.9"', init.read_text()))
    launcher = tmp_path / "PythonSlicer"
    launcher.write_text(f'#!/bin/sh\nPYTHONPATH="{site_packages}:$PYTHONPATH" exec "{sys.executable}" "$@"\n')
    launcher.chmod(0o755)
    return str(launcher), other


def test_bundled_version_is_the_engine_version():
    import saltseg

    assert bundled_version() == saltseg.__version__


def test_segmentation_refuses_an_engine_running_another_saltseg(shadowing_launcher):
    require_shared_data()
    launcher, other = shadowing_launcher
    logic = SALTSegmentation.SALTSegmentationLogic()
    logic.engine.python = launcher
    scene = new_scene()
    volume = load_ct(scene)
    before = scene_snapshot(scene)
    try:
        with pytest.raises(Exception) as raised:
            logic.segment(volume, model="salt-phantom-demo", device="cpu")
    finally:
        logic.shutdownEngine()
    error = raised.value
    assert getattr(error, "kind", "") == MISMATCH_KIND
    message = str(error)
    assert "saltseg 0.0.9" in message and str(other) in message and "bundled" in message
    assert "pip_uninstall('saltseg')" in message  # what to do
    assert scene_snapshot(scene) == before
    assert logic.engine.runner is None  # the wrong engine was stopped


def test_model_list_refuses_an_engine_running_another_saltseg(shadowing_launcher):
    launcher, other = shadowing_launcher
    task = ProcessTask([engine_command(launcher, "info")], SubprocessRunner).start()
    assert task.wait(60)
    assert task.error is not None and "saltseg 0.0.9" in task.error and str(other) in task.error
    assert task.result == {}
    assert task.child_pid and process_gone(task.child_pid, 5)
