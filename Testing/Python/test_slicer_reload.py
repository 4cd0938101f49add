"""Reload reloads the library and the engine package, not only ``SALTSegmentation.py``:
``slicer.util.reloadScriptedModule`` re-executes the module file alone, so without this an edit to
``SALTSegmentationLib`` or ``saltseg`` would be ignored by the front end while a new engine process
runs the edited engine. Checked on a copy of the module: edit, reload as Slicer does, see the edit."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from slicer_test_support import MODULE_DIR

RELOAD_SCRIPT = r"""
import importlib.util, sys
module_dir, tests = sys.argv[1], sys.argv[2]
sys.path[:0] = [tests]
from slicer_test_support import install_scripted_module_shim
install_scripted_module_shim()
sys.path.insert(0, module_dir)  # the copy, before the repository's module folder
import SALTSegmentation
import saltseg
from SALTSegmentationLib.scene import sample_data
from SALTSegmentationLib.processes import engine_session
before = (saltseg.__version__, sample_data.PHANTOM_SAMPLE_CATEGORY)
old_session_module = engine_session

# The edits a developer makes, then Reload.
lib = module_dir + "/SALTSegmentationLib/scene/sample_data.py"
text = open(lib).read().replace('PHANTOM_SAMPLE_CATEGORY = "SALT Segmentation"', 'PHANTOM_SAMPLE_CATEGORY = "Edited"')
open(lib, "w").write(text)
init = module_dir + "/saltseg/__init__.py"
text = open(init).read().replace('__version__ = "', '__version__ = "9.9.9+')
open(init, "w").write(text)

forgotten = SALTSegmentation.reloadLibrary()
# What slicer.util.reloadScriptedModule does: execute SALTSegmentation.py again from its file.
spec = importlib.util.spec_from_file_location("SALTSegmentation", module_dir + "/SALTSegmentation.py")
reloaded = importlib.util.module_from_spec(spec)
sys.modules["SALTSegmentation"] = reloaded
spec.loader.exec_module(reloaded)
import saltseg
from SALTSegmentationLib.scene import sample_data
from SALTSegmentationLib.processes import engine_session
logic = reloaded.SALTSegmentationLogic()  # the widget's setup() creates a new logic
print(before[1], before[0])
print(sample_data.PHANTOM_SAMPLE_CATEGORY, saltseg.__version__ == "9.9.9+" + before[0],
      saltseg.__file__.startswith(module_dir))
print(type(logic.engine).__module__, type(logic.engine) is engine_session.EngineSession,
      engine_session is not old_session_module)
print("forgot", "saltseg" in forgotten, "SALTSegmentationLib.scene.sample_data" in forgotten)
"""


def test_reload_runs_the_edited_library_and_engine(tmp_path):
    copy = tmp_path / "SALTSegmentation"
    shutil.copytree(MODULE_DIR, copy, ignore=shutil.ignore_patterns("__pycache__"))
    run = subprocess.run([sys.executable, "-c", RELOAD_SCRIPT, str(copy), str(Path(__file__).parent)],
                         capture_output=True, text=True, timeout=180, env={"PATH": "/usr/bin:/bin"})
    assert run.returncode == 0, run.stderr[-3000:]
    lines = run.stdout.strip().splitlines()[-4:]
    assert lines[0].startswith("SALT Segmentation ")
    assert lines[1] == "Edited True True"
    assert lines[2] == "SALTSegmentationLib.processes.engine_session True True"
    assert lines[3] == "forgot True True"
