"""The module's Logic (from SALTSegmentation.py itself) with a real official-format model on real
MRML: the console API blocking and in the background, progress, cancel and failure leaving the
scene as it was, and errors carrying the engine's message."""
from __future__ import annotations

import time
from pathlib import Path

import pytest

from slicer_test_support import (install_scripted_module_shim, load_ct, new_scene, published_tree,  # noqa: F401
                                 scene_snapshot, threshold_model_dir)

install_scripted_module_shim()
import SALTSegmentation  # noqa: E402
from saltseg.errors import ModelError, SaltSegError  # noqa: E402
from SALTSegmentationLib.scene.mrml_helpers import segment_tag  # noqa: E402
from SALTSegmentationLib.scene.tree_storage import load_tree  # noqa: E402
from SALTSegmentationLib.processes.engine_job import EngineJob as SegmentationJob  # noqa: E402
from saltseg.io.writers import TAG_MODEL_ID  # noqa: E402


def segment_ids(node) -> list[str]:
    seg = node.GetSegmentation()
    return [seg.GetNthSegmentID(i) for i in range(seg.GetNumberOfSegments())]


def test_module_metadata_cites_salt():
    parent = type("Parent", (), {})()
    SALTSegmentation.SALTSegmentation(parent)
    assert parent.categories == ["Segmentation"]
    assert "Sci Rep 15, 44140 (2025)" in parent.acknowledgementText


def test_segment_blocking_creates_named_segmentation_with_tree(threshold_model_dir, published_tree):
    scene = new_scene()
    volume = load_ct(scene)
    import threading

    progress: list[tuple[str, float]] = []
    threads: set[str] = set()

    def on_progress(stage: str, fraction: float) -> None:
        progress.append((stage, fraction))
        threads.add(threading.current_thread().name)

    logic = SALTSegmentation.SALTSegmentationLogic()
    node = logic.segment(volume, model=str(threshold_model_dir), device="cpu", progress=on_progress)
    assert threads == {threading.main_thread().name}  # callers may touch Qt/MRML in the callback
    assert node.GetName() == "CT segmentation" and node.GetScene() is scene
    # The threshold model separates fat, muscle and bone: the segments a user would see.
    assert set(segment_ids(node)) == {"body,subcutaneous_tissue", "body,muscles,other", "body,bones,other"}
    assert logic.labelTree(node) == published_tree
    assert segment_tag(node.GetSegmentation().GetNthSegment(0), TAG_MODEL_ID) == threshold_model_dir.name
    stages = [stage for stage, _ in progress]
    assert {"preprocessing", "inference", "postprocessing"} <= set(stages)
    assert progress[-1] == ("postprocessing", 1.0)
    assert logic.currentJob.state == SegmentationJob.SUCCEEDED
    # Console helpers on the result.
    assert logic.subtreeSegmentIds(node, "body,bones") == ["body,bones,other"]
    logic.setSubtreeVisibility(node, "body,bones", False)
    assert logic.subtreeVisibility(node, "body") == "partial"


def test_background_run_touches_mrml_only_when_events_are_delivered(threshold_model_dir):
    scene = new_scene()
    volume = load_ct(scene)
    existing = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "Mine")
    existing.CreateDefaultDisplayNodes()
    finished: list[SegmentationJob] = []
    logic = SALTSegmentation.SALTSegmentationLogic()
    node = logic.segment(volume, existing, model=str(threshold_model_dir), device="cpu", wait=False,
                         onFinished=finished.append)
    assert node is existing and logic.currentJob.state == SegmentationJob.RUNNING
    # The engine finishes meanwhile (its labelmap file appears), but nothing reaches MRML until
    # events are delivered.
    result_file = Path(logic.currentJob.request["labelmap"])
    deadline = time.monotonic() + 300
    while not result_file.is_file() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert result_file.is_file()
    assert segment_ids(existing) == [] and not finished
    with pytest.raises(RuntimeError, match="already running"):
        logic.segment(volume, model=str(threshold_model_dir), device="cpu", wait=False)
    assert logic.currentJob.wait(timeout=60)  # what Qt's event loop does inside Slicer
    assert logic.pollJob()
    assert len(segment_ids(existing)) == 3 and finished == [logic.currentJob]
    assert load_tree(existing) is not None
    assert existing.GetNodeReference(existing.GetReferenceImageGeometryReferenceRole()) is volume
    logic.shutdownEngine()


def test_failure_reports_engine_message_and_leaves_scene_and_existing_segments(tmp_path, threshold_model_dir):
    scene = new_scene()
    volume = load_ct(scene)
    logic = SALTSegmentation.SALTSegmentationLogic()
    previous = logic.segment(volume, model=str(threshold_model_dir), device="cpu")
    ids_before = segment_ids(previous)
    before = scene_snapshot(scene)

    broken = tmp_path / "broken_model"
    broken.mkdir()
    (broken / "model.pt").write_bytes(b"not a model")
    (broken / "config.pkl").write_bytes(b"not a pickle")
    for target in (None, previous):  # a new node, and re-running into the existing one
        with pytest.raises(SaltSegError, match=r"broken_model.config\.pkl is not a valid config\.pkl"):
            logic.segment(volume, target, model=str(broken), device="cpu")  # the engine's own message
        assert logic.currentJob.state == SegmentationJob.FAILED
        assert scene_snapshot(scene) == before
        assert segment_ids(previous) == ids_before


def test_unknown_model_and_missing_volume_are_clear_errors():
    scene = new_scene()
    volume = load_ct(scene)
    logic = SALTSegmentation.SALTSegmentationLogic()
    with pytest.raises(ModelError, match="model folder /no/such/model-folder-or-id does not exist"):
        logic.segment(volume, model="/no/such/model-folder-or-id", device="cpu")
    with pytest.raises(ValueError, match="CT volume"):
        logic.segment(None)


IMPORT_WITHOUT_TORCH = r"""
import sys
sys.modules["torch"] = None          # what Slicer looks like before the PyTorch extension installs it
sys.modules["platformdirs"] = None   # not shipped with Slicer's Python
sys.path.insert(0, sys.argv[1])
from slicer_test_support import install_scripted_module_shim, new_scene
install_scripted_module_shim()
import SALTSegmentation
from SALTSegmentationLib.processes.model_registry import model_choices
from SALTSegmentationLib.scene.sample_data import DEMO_MODEL_ID, load_phantom
assert [c.id for c in model_choices([], [sys.argv[1]])] == [sys.argv[1]]
volume = load_phantom(new_scene(), sys.argv[2])  # the sample data works without torch
assert volume.GetAttribute("SALT.SuggestedModel") == DEMO_MODEL_ID
logic = SALTSegmentation.SALTSegmentationLogic()
scene = new_scene()
node = scene.AddNewNodeByClass("vtkMRMLSegmentationNode")
assert logic.labelTree(node) is None and logic.subtreeSegmentIds(node, "body") == []
print("ok")
"""


def test_module_loads_without_torch_or_registry_packages(tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    here = Path(__file__).resolve().parent
    system_temp = tmp_path / "system-temp"  # stands for /tmp: nothing may be left there
    system_temp.mkdir()
    run = subprocess.run([sys.executable, "-c", IMPORT_WITHOUT_TORCH, str(here), str(tmp_path / "samples")],
                         capture_output=True, text=True, timeout=120, env={**os.environ, "TMPDIR": str(system_temp)})
    assert run.returncode == 0 and run.stdout.strip().endswith("ok"), run.stderr[-2000:]
    assert list(system_temp.iterdir()) == [] and (tmp_path / "samples" / "SALTPhantom_03000.nii.gz").is_file()
