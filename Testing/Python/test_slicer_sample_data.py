"""The phantom as Slicer sample data: generated once into the cache, loaded into a real MRML scene,
and segmented offline by the bundled demo model when no model is chosen — with each kidney on its
own side of the body."""
from __future__ import annotations

import json

import pytest

from slicer_test_support import install_scripted_module_shim, new_scene
from test_models_helpers import isolated_home  # noqa: F401  (fixture)

install_scripted_module_shim()
import SALTSegmentation  # noqa: E402
from SALTSegmentationLib.scene.sample_data import (PHANTOM_SAMPLE_NAME, SUGGESTED_MODEL_ATTRIBUTE,  # noqa: E402
                                             load_phantom, phantom_ct_file, phantom_file_name, phantom_source_file,
                                             register_phantom_sample, suggested_model)
from saltseg.models.catalog import DEMO_MODEL_ID  # noqa: E402


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("sample-cache")


def test_phantom_file_is_generated_once_and_reused(cache):
    path = phantom_ct_file(cache)
    assert path.name == phantom_file_name() and path.stat().st_size > 0
    stamp = path.stat().st_mtime_ns
    assert phantom_ct_file(cache) == path and path.stat().st_mtime_ns == stamp
    assert [p.name for p in cache.iterdir()] == [path.name]  # no temporary file left behind


def test_sample_is_registered_for_slicers_sample_data_module(cache):
    loads = []

    class SampleDataLogicSignature:  # records what SampleData.SampleDataLogic receives
        registered: list[dict] = []

        @classmethod
        def registerCustomSampleDataSource(cls, **kwargs):  # noqa: N802 - Slicer's API
            cls.registered.append(kwargs)

    register_phantom_sample(SampleDataLogicSignature, lambda: str(cache), lambda: loads.append(1), "thumb.png")
    (source,) = SampleDataLogicSignature.registered
    assert source["sampleName"] == PHANTOM_SAMPLE_NAME and source["fileNames"] == phantom_file_name()
    # Not the cache file itself: SampleData downloads the URI into the cache (see test_slicer_module_fixes).
    assert source["uris"] == phantom_source_file(cache).as_uri() != (cache / phantom_file_name()).as_uri()
    # Slicer ≥ 5.8 calls customDownloader(source), older versions call it without arguments.
    source["customDownloader"](object())
    source["customDownloader"]()
    assert loads == [1, 1]


def test_phantom_loaded_by_sample_datas_own_loader_still_names_the_demo_model(cache):
    """``SampleData.downloadSample("SALTPhantom")`` loads the file with Slicer's volume reader (a
    volume archetype storage node, no attribute): a segment() without a model must still use the
    demo model, which works offline, not the published one."""
    scene = new_scene()
    storage = scene.AddNewNodeByClass("vtkMRMLVolumeArchetypeStorageNode")
    storage.SetFileName(str(phantom_ct_file(cache)))
    volume = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", PHANTOM_SAMPLE_NAME)
    assert storage.ReadData(volume)
    volume.SetAndObserveStorageNodeID(storage.GetID())
    assert volume.GetAttribute(SUGGESTED_MODEL_ATTRIBUTE) is None
    assert suggested_model(volume) == DEMO_MODEL_ID
    other = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "CT")
    assert suggested_model(other) is None and suggested_model(None) is None

    written: list[str] = []

    class RecordingRunner:  # the request the engine would get
        on_stdout_line = on_stderr_line = on_finished = None
        def start(self, program, args, env=None): pass
        def is_running(self): return True
        def write_line(self, text): written.append(text)
        def kill(self): pass
        def pid(self): return None
        def wait_for_activity(self, timeout): pass

    from SALTSegmentationLib.scene.logic_core import SegmentationLogicCore

    logic = SegmentationLogicCore(runner_factory=RecordingRunner)
    logic.segment(volume, wait=False)
    assert json.loads(written[0])["model"] == DEMO_MODEL_ID
    logic.shutdownEngine()  # this engine never answers: end the job at once


def test_phantom_loads_and_segments_offline_with_the_demo_model(cache, isolated_home):
    scene = new_scene()
    volume = load_phantom(scene, cache)
    assert volume.GetScene() is scene and volume.GetName() == PHANTOM_SAMPLE_NAME
    assert volume.GetAttribute(SUGGESTED_MODEL_ATTRIBUTE) == DEMO_MODEL_ID
    assert volume.GetStorageNode().GetFileName().endswith(phantom_file_name())

    logic = SALTSegmentation.SALTSegmentationLogic()
    node = logic.segment(volume, device="cpu")  # no model given: the volume's (the demo model)
    segmentation = node.GetSegmentation()
    centre_x = {}
    for segment_id in ("body,abdominal_cavity,kidneys,kidney_right", "body,abdominal_cavity,kidneys,kidney_left",
                       "body,abdominal_cavity,liver", "body,abdominal_cavity,spleen"):
        assert segmentation.GetSegment(segment_id) is not None, segment_id
        centre_x[segment_id.split(",")[-1]] = node.GetSegmentCenterRAS(segment_id)[0]
    # RAS: +x points to the patient's right.
    assert centre_x["kidney_right"] > centre_x["kidney_left"] + 40
    assert centre_x["liver"] > centre_x["spleen"] + 40
