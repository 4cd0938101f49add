"""Helpers for the MRML tests: real scenes from the ``slicer-core`` wheel, the shared CT loaded the
way Slicer loads it (volume archetype storage node), and a small official-format model.

Also a minimal stand-in for ``slicer.ScriptedLoadableModule`` (absent from the wheel, which has no
application), so ``SALTSegmentation.py`` itself can be imported and its Logic exercised.
"""
from __future__ import annotations

import sys
import types
import unittest
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
MODULE_DIR = REPO / "SALTSegmentation"
SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
CT_PATH = SHARED_DATA / "example_ct_sm.nii.gz"
TREE_PATH = SHARED_DATA / "salt_label_trees" / "saros+totalseg" / "tree-labels.txt"

if str(MODULE_DIR) not in sys.path:
    sys.path.insert(0, str(MODULE_DIR))

import slicer  # noqa: E402  (after the path set-up on purpose)


def require_shared_data() -> None:
    if not CT_PATH.is_file() or not TREE_PATH.is_file():
        pytest.skip("../shared/data is not present on this machine")


def new_scene() -> "slicer.vtkMRMLScene":
    from SALTSegmentationLib.scene.mrml_helpers import ensure_converter_rules

    # What Slicer's Segmentations module does at application start-up (the wheel has no
    # application): segmentations copy the registered conversion rules when they are created.
    ensure_converter_rules()
    scene = slicer.vtkMRMLScene()
    # Slicer's application always has the subject hierarchy node; create it up front so tests
    # that compare scenes before/after a run see only what the run did.
    slicer.vtkMRMLSubjectHierarchyNode.GetSubjectHierarchyNode(scene)
    return scene


def load_ct(scene, path: Path = CT_PATH, name: str = "CT"):
    volume = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", name)
    storage = scene.AddNewNodeByClass("vtkMRMLVolumeArchetypeStorageNode")
    storage.SetFileName(str(path))
    assert storage.ReadData(volume), f"could not read {path}"
    volume.SetAndObserveStorageNodeID(storage.GetID())
    volume.CreateDefaultDisplayNodes()
    return volume


def scene_snapshot(scene) -> list[tuple[str, str]]:
    """(class, name) of every node, to check that a failed run left the scene as it was."""
    nodes = scene.GetNodes()
    return sorted((nodes.GetItemAsObject(i).GetClassName(), nodes.GetItemAsObject(i).GetName() or "")
                  for i in range(nodes.GetNumberOfItems()))


def install_scripted_module_shim() -> None:
    """``slicer.ScriptedLoadableModule`` base classes with Slicer's attribute names, for import only."""
    if "slicer.ScriptedLoadableModule" in sys.modules:
        return
    shim = types.ModuleType("slicer.ScriptedLoadableModule")

    class ScriptedLoadableModule:
        def __init__(self, parent):
            self.parent = parent

    class ScriptedLoadableModuleWidget:
        def __init__(self, parent=None):
            self.parent = parent

    class ScriptedLoadableModuleLogic:
        def __init__(self, parent=None):
            pass

    class ScriptedLoadableModuleTest(unittest.TestCase):
        # A unittest.TestCase, as Slicer's is: slicer.testing.runUnitTest loads it with
        # unittest.TestLoader, so each test_* method runs on its own.
        def delayDisplay(self, message, msec=0):
            print(message)

    for cls in (ScriptedLoadableModule, ScriptedLoadableModuleWidget, ScriptedLoadableModuleLogic,
                ScriptedLoadableModuleTest):
        setattr(shim, cls.__name__, cls)
    shim.__all__ = [c for c in dir(shim) if c.startswith("Scripted")]
    sys.modules["slicer.ScriptedLoadableModule"] = shim
    slicer.ScriptedLoadableModule = shim


@pytest.fixture(scope="session")
def published_tree():
    require_shared_data()
    from saltseg.tree.labeltree import LabelTree

    return LabelTree.from_tree_labels_file(TREE_PATH)


@pytest.fixture(scope="session")
def threshold_model_dir(tmp_path_factory, published_tree) -> Path:
    """A real official-format model on the published 145-node tree (intensity thresholds)."""
    from saltseg.model.threshold_model import export_threshold_model

    out = tmp_path_factory.mktemp("salt_threshold_model")
    return export_threshold_model(out, published_tree, roi_size=(32, 32, 16), voxel_spacing=(6.0, 6.0, 6.0))


def salt_labels(tree):
    """The shared TotalSegmentator labels as SALT leaf values of the same name (41 structures), as
    a (k, j, i) array, and the image they were read from."""
    import json

    import numpy as np
    import SimpleITK as sitk

    seg = sitk.ReadImage(str(SHARED_DATA / "example_seg.nii.gz"))
    names = json.loads((SHARED_DATA / "example_seg_labels.json").read_text())
    leaf_value = {tree.path(leaf)[-1]: tree.label_value(leaf) for leaf in tree.leaves}
    source = sitk.GetArrayFromImage(seg)
    values = np.full(source.shape, tree.background_value, dtype=np.uint8)
    for ts_value, name in names.items():
        if name in leaf_value:
            values[source == int(ts_value)] = leaf_value[name]
    return values, seg


def reference_result(tree, model_id: str = "totalseg-reference"):
    """A real multi-structure result on the shared CT's grid (:func:`salt_labels`), so tree
    operations are tested on real anatomy (lumbar vertebrae, ribs, kidneys ...)."""
    import SimpleITK as sitk
    from saltseg.inference.pipeline import SegmentationResult

    values, seg = salt_labels(tree)
    labelmap = sitk.GetImageFromArray(values)
    labelmap.CopyInformation(seg)
    return SegmentationResult(labelmap, tree, model_id)


def segment_mask(segmentation_node, segment_id: str, volume_node):
    """The segment as a boolean k,j,i array on the volume's grid (what
    ``slicer.util.arrayFromSegmentBinaryLabelmap`` gives inside Slicer, without its global scene)."""
    import vtk
    from vtk.util import numpy_support

    reference = slicer.vtkOrientedImageData()
    reference.SetDimensions(volume_node.GetImageData().GetDimensions())
    matrix = vtk.vtkMatrix4x4()
    volume_node.GetIJKToRASMatrix(matrix)
    reference.SetImageToWorldMatrix(matrix)
    image = slicer.vtkOrientedImageData()
    segmentation_node.GetBinaryLabelmapRepresentation(segment_id, image)
    resampled = slicer.vtkOrientedImageData()
    assert slicer.vtkOrientedImageDataResample.ResampleOrientedImageToReferenceOrientedImage(
        image, reference, resampled, False, True)
    dims = resampled.GetDimensions()
    return numpy_support.vtk_to_numpy(resampled.GetPointData().GetScalars()).reshape(dims[::-1]) > 0


FAKE_PYTHON_SLICER = '''
import subprocess, sys
# Like Slicer's PythonSlicer, a CTK launcher: the real Python runs as a child with the launcher's
# stdin/stdout/stderr, and a crash of it comes back as exit code 1 plus the launcher's message.
# QProcess starts the launcher in Slicer's process group, so killing the launcher (or its group)
# never reaches the child; a session of its own gives the child the same independence here.
real = sys.argv[1]
child = subprocess.run([real, *sys.argv[2:]], start_new_session=True)
if child.returncode < 0:
    sys.stderr.write(f"error: [{real}] exit abnormally - Report the problem.\\n")
    sys.exit(1)
sys.exit(child.returncode)
'''


def fake_python_slicer(folder: Path) -> str:
    """An executable standing in for Slicer's ``PythonSlicer`` launcher (POSIX shell script)."""
    script = Path(folder) / "fake_python_slicer.py"
    script.write_text(FAKE_PYTHON_SLICER)
    launcher = Path(folder) / "PythonSlicer"
    launcher.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{script}" "{sys.executable}" "$@"\n')
    launcher.chmod(0o755)
    return str(launcher)


def _is_zombie(pid: int) -> bool:
    """Ended but not yet reaped: an orphan (e.g. the engine behind a killed launcher) waits for
    the system's init, which may reap it late; it computes nothing any more."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] == "Z"


def process_gone(pid: int, within: float) -> bool:
    """Whether process ``pid`` has ended (exited or a zombie) within ``within`` seconds."""
    import os
    import time

    deadline = time.monotonic() + max(within, 0.0)
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        if _is_zombie(pid):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)


#: Slicer's start-up as far as this module is concerned, in a fresh interpreter: the module file is
#: executed, its ScriptedLoadableModule created, then the slots it connected to ``startupCompleted``
#: run (sample data registration, terminology). ``slicer.app`` is a stand-in recording connections,
#: the terminology logic is slicer-core's real one. Prints one JSON line: the modules this imported,
#: the seconds it took, and the terminology contexts loaded. argv: tests folder, cache folder.
STARTUP_SCRIPT = r'''
import json, sys, time, types
sys.path.insert(0, sys.argv[1])
import slicer, vtk
from slicer_test_support import install_scripted_module_shim
install_scripted_module_shim()

class App:  # slicer.app: records what the module connects to startupCompleted()
    def __init__(self):
        self.slots = []
    def connect(self, signal, slot):
        self.slots.append((signal, slot))

class CacheManager:
    def GetRemoteCacheDirectory(self):
        return sys.argv[2]

class SampleDataLogic:  # the SampleData module's registry (Slicer's own module)
    sources = []
    @classmethod
    def registerCustomSampleDataSource(cls, **kwargs):
        cls.sources.append(kwargs["sampleName"])

terminologies = slicer.vtkSlicerTerminologiesModuleLogic()
loads = []
class TerminologiesModule:
    def logic(self):
        return terminologies
original_load = terminologies.LoadTerminologyFromFile
slicer.app = App()
slicer.modules = types.SimpleNamespace(terminologies=TerminologiesModule())
slicer.mrmlScene = slicer.vtkMRMLScene()
slicer.mrmlScene.GetCacheManager = CacheManager
sys.modules["SampleData"] = types.SimpleNamespace(SampleDataLogic=SampleDataLogic)

before = set(sys.modules)
started = time.perf_counter()
import SALTSegmentation
SALTSegmentation.SALTSegmentation(types.SimpleNamespace())
for signal, slot in slicer.app.slots:
    if signal == "startupCompleted()":
        slot()
elapsed = time.perf_counter() - started
imported = sorted(set(sys.modules) - before)
contexts = []
names = vtk.vtkStringArray()
terminologies.GetLoadedTerminologyNames(names)
contexts = [names.GetValue(i) for i in range(names.GetNumberOfValues())]
print(json.dumps({"imported": imported, "seconds": elapsed, "terminologies": contexts,
                  "samples": SampleDataLogic.sources}))
'''
