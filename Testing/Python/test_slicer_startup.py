"""What every Slicer start-up pays for the module, and what it must do then: registering the module
imports nothing heavy (no SimpleITK, numpy helpers or engine), the SALT terminology is loaded once
at ``startupCompleted`` (not when the module is first opened), and the module loads even where
VTK's wrappers lack ``GetConverterRules()``'s vector type (Slicer 5.8)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from slicer_test_support import STARTUP_SCRIPT, install_scripted_module_shim

install_scripted_module_shim()

import slicer  # noqa: E402

import SALTSegmentation  # noqa: E402
from SALTSegmentationLib import module_setup  # noqa: E402
from SALTSegmentationLib.scene.terminology import TERMINOLOGY_CONTEXT  # noqa: E402
from SALTSegmentationLib.scene.terminology_file import TERMINOLOGY_FILE  # noqa: E402

TESTS = Path(__file__).parent
#: What registration may import: the module file and the light part of the library.
ALLOWED_AT_STARTUP = {"SALTSegmentation", "SALTSegmentationLib", "SALTSegmentationLib.processes",
                      "SALTSegmentationLib.processes.process_runner", "SALTSegmentationLib.scene",
                      "SALTSegmentationLib.scene.logic_core", "SALTSegmentationLib.scene.parameters",
                      "SALTSegmentationLib.scene.sample_data", "SALTSegmentationLib.module_setup",
                      "SALTSegmentationLib.i18n"}
HEAVY = ("saltseg", "SimpleITK", "numpy", "scipy", "torch", "vtkmodules.util.numpy_support")


def run_startup(tmp_path) -> dict:
    run = subprocess.run([sys.executable, "-c", STARTUP_SCRIPT, str(TESTS), str(tmp_path)],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout.splitlines()[-1])


def test_startup_imports_no_engine_simpleitk_or_numpy_module(tmp_path):
    startup = run_startup(tmp_path)
    imported = startup["imported"]
    heavy = [name for name in imported if name.split(".")[0] in HEAVY or name in HEAVY]
    assert heavy == [], heavy
    library = {name for name in imported if name.startswith("SALTSegmentation")}
    assert library <= ALLOWED_AT_STARTUP, sorted(library - ALLOWED_AT_STARTUP)
    assert startup["samples"] == ["SALTPhantom"]  # the sample data was still registered


def test_terminology_is_loaded_at_startup_completed(tmp_path):
    # Before the module is ever opened (no logic created), a scene naming the SALT context resolves.
    assert run_startup(tmp_path)["terminologies"] == [TERMINOLOGY_CONTEXT]


def test_terminology_is_loaded_once_whatever_creates_logic(monkeypatch):
    terminologies = slicer.vtkSlicerTerminologiesModuleLogic()
    loads = []

    class CountingLogic:
        def LoadTerminologyFromFile(self, path):  # noqa: N802 - Slicer's API
            loads.append(path)
            return terminologies.LoadTerminologyFromFile(path)

    class TerminologiesModule:
        def logic(self):
            return CountingLogic()

    monkeypatch.setattr(module_setup, "_loadedTerminology", None)
    monkeypatch.setattr(slicer, "modules", type("Modules", (), {"terminologies": TerminologiesModule()})(),
                        raising=False)
    assert SALTSegmentation.loadTerminology() == TERMINOLOGY_CONTEXT
    SALTSegmentation.SALTSegmentationLogic()
    SALTSegmentation.SALTSegmentationLogic()
    assert loads == [module_setup.TERMINOLOGY_FILE]
    assert Path(module_setup.TERMINOLOGY_FILE) == TERMINOLOGY_FILE


CONVERTER_RULES_SCRIPT = r"""
import sys
import slicer

real = slicer.vtkSegmentationConverterFactory.GetInstance()

class FactoryWithoutVectorWrapping:
    # What VTK 9.2's wrappers give: GetConverterRules() (a std::vector of smart pointers) is missing.
    def __getattr__(self, name):
        if name == "GetConverterRules" or sys.argv[1] == "broken":
            raise AttributeError(name)
        return getattr(real, name)

class Factory:
    @staticmethod
    def GetInstance():
        return FactoryWithoutVectorWrapping()

wrapped = slicer.vtkSegmentationConverterFactory
slicer.vtkSegmentationConverterFactory = Factory
from SALTSegmentationLib.scene import mrml_helpers  # runs the check at import time
mrml_helpers.ensure_converter_rules()  # a second time: nothing registered twice
print(len(real.GetConverterRules()))
"""


def test_module_loads_when_converter_rules_are_not_wrapped():
    for mode, rules in (("no-vector", 4), ("broken", 0)):
        run = subprocess.run([sys.executable, "-c", CONVERTER_RULES_SCRIPT, mode],
                             capture_output=True, text=True, timeout=120)
        assert run.returncode == 0, run.stderr[-3000:]
        assert run.stdout.split()[-1] == str(rules), (mode, run.stdout, run.stderr[-2000:])
