"""Fixes only a real Slicer would have shown: the shipped terminology file matches the engine's
SNOMED CT table and covers every code a segment uses (with Left/Right where SALT has sides);
``SampleData.downloadSample`` gets a real file; the registered module test passes on a build
machine without torch; the tree panel follows segments added, removed or renamed elsewhere."""
from __future__ import annotations

import json
import subprocess
import sys
import urllib.request

import pytest
from pathlib import Path


from slicer_test_support import install_scripted_module_shim, new_scene, published_tree  # noqa: F401

install_scripted_module_shim()

import slicer  # noqa: E402
import vtk  # noqa: E402
from saltseg.models.catalog import DEMO_MODEL_ID  # noqa: E402
from saltseg.tree.anatomic_codes import anatomic_code  # noqa: E402
from SALTSegmentationLib.scene.sample_data import (DEMO_MODEL_ID as SAMPLE_DEMO_MODEL_ID,  # noqa: E402
                                             PHANTOM_SAMPLE_NAME, phantom_file_name, register_phantom_sample)
from SALTSegmentationLib.scene.segmentation_watcher import SegmentationWatcher  # noqa: E402
from SALTSegmentationLib.scene.terminology import TERMINOLOGY_CONTEXT, terminology_entry  # noqa: E402
from SALTSegmentationLib.scene.terminology_file import TERMINOLOGY_FILE, terminology_text  # noqa: E402


def test_shipped_terminology_file_is_generated_from_the_engine_table():
    assert TERMINOLOGY_FILE.read_text(encoding="utf-8") == terminology_text(), \
        "regenerate: cd SALTSegmentation && python -m SALTSegmentationLib.scene.terminology_file"


def test_every_segment_code_is_in_the_terminology_with_its_side(salt_tree):
    document = json.loads(TERMINOLOGY_FILE.read_text(encoding="utf-8"))
    assert document["SegmentationCategoryTypeContextName"] == TERMINOLOGY_CONTEXT
    (category,) = document["SegmentationCodes"]["Category"]
    types = {t["CodeValue"]: t for t in category["Type"]}
    checked = 0
    for node in range(len(salt_tree)):
        entry = terminology_entry(salt_tree.path(node))
        if entry is None:
            continue
        context, category_code, type_code, modifier = entry.split("~")[:4]
        assert context == document["SegmentationCategoryTypeContextName"]
        assert category_code == "^".join((category["CodingSchemeDesignator"], category["CodeValue"],
                                          category["CodeMeaning"]))
        scheme, value, meaning = type_code.split("^")
        assert types[value]["CodeMeaning"] == meaning, salt_tree.path(node)
        if modifier != "^^":
            assert modifier.split("^")[1] in {m["CodeValue"] for m in types[value].get("Modifier", [])}
        checked += 1
    assert checked >= 90  # every coded structure of the published tree
    assert "Modifier" in types[anatomic_code(("rib_left_3",)).value]  # ribs come in pairs
    assert "Modifier" not in types[anatomic_code(("vertebrae_L1",)).value]
    # Only the sides the tree uses: the middle lobe exists on the right only.
    middle_lobe = types[anatomic_code(("lung_middle_lobe_right",)).value]
    assert [m["CodeMeaning"] for m in middle_lobe["Modifier"]] == ["Right"]


def test_demo_model_id_of_the_sample_matches_the_catalogue():
    assert SAMPLE_DEMO_MODEL_ID == DEMO_MODEL_ID


def test_download_sample_gets_a_generated_phantom_through_the_url_rewrite_rule(tmp_path):
    cache = tmp_path / "cache"

    class SampleDataLogicSignature:  # what SampleData.SampleDataLogic offers in Slicer ≥ 5.10
        rules: dict = {}
        sources: list = []

        @classmethod
        def registerUrlRewriteRule(cls, name, rewrite):  # noqa: N802 - Slicer's API
            cls.rules[name] = rewrite

        @classmethod
        def registerCustomSampleDataSource(cls, **kwargs):  # noqa: N802
            cls.sources.append(kwargs)

    register_phantom_sample(SampleDataLogicSignature, lambda: str(cache), lambda: None)
    (source,) = SampleDataLogicSignature.sources
    destination = cache / source["fileNames"]
    assert Path(urllib.request.url2pathname(source["uris"][len("file://"):])) != destination
    # What SampleDataLogic.downloadFile does: rewrite the URL, then urlretrieve it into the cache.
    url = SampleDataLogicSignature.rules[PHANTOM_SAMPLE_NAME](source["uris"])
    cache.mkdir(exist_ok=True)
    urllib.request.urlretrieve(url, destination)
    assert destination.stat().st_size > 100_000 and destination.name == phantom_file_name()


MODULE_TEST_WITHOUT_TORCH = r"""
import sys
sys.modules["torch"] = None  # an Extensions Index build machine: "import torch" fails
sys.path.insert(0, sys.argv[1])
import unittest
import slicer
from slicer_test_support import install_scripted_module_shim, new_scene
install_scripted_module_shim()
slicer.mrmlScene = new_scene()

class CacheManager:
    def GetRemoteCacheDirectory(self):
        return sys.argv[2]

slicer.mrmlScene.GetCacheManager = CacheManager
# What slicer.testing.runUnitTest does for slicer_add_python_unittest(SCRIPT SALTSegmentation.py).
suite = unittest.TestLoader().loadTestsFromName(sys.argv[3])
result = unittest.TextTestRunner(verbosity=2, stream=sys.stdout).run(suite)
print("RESULT", result.testsRun, len(result.errors), len(result.failures), len(result.skipped))
print("torch imported:", sys.modules.get("torch") is not None)
"""


@pytest.mark.parametrize("name", ["SALTSegmentation", "SALTSegmentation.SALTSegmentationTest"])
def test_slicer_unit_test_runner_skips_the_engine_test_without_torch(tmp_path, name):
    run = subprocess.run([sys.executable, "-c", MODULE_TEST_WITHOUT_TORCH, str(Path(__file__).parent),
                          str(tmp_path), name], capture_output=True, text=True, timeout=180)
    assert run.returncode == 0, run.stderr[-3000:] + run.stdout[-2000:]
    output = run.stdout + run.stderr
    # Both test methods ran on their own (runTest is never called); the engine one skipped itself.
    assert "test_phantom_sample_offline" in output and "skipped" in output, output[-3000:]
    assert "test_tree_operations_without_engine" in output
    summary = next(line for line in run.stdout.splitlines() if line.startswith("RESULT"))
    tests_run, errors, failures, skipped = map(int, summary.split()[1:])
    assert (errors, failures, skipped) == (0, 0, 1) and tests_run >= 2, output[-3000:]
    assert "torch imported: False" in run.stdout


def test_tree_panel_follows_segments_added_removed_and_renamed_elsewhere():
    scene = new_scene()
    node = scene.AddNewNodeByClass("vtkMRMLSegmentationNode")
    node.CreateDefaultDisplayNodes()
    rebuilds, refreshes = [], []
    watcher = SegmentationWatcher(lambda: rebuilds.append(1), lambda: refreshes.append(1))
    watcher.watch(node)
    segmentation = node.GetSegmentation()
    segment_id = segmentation.AddEmptySegment("liver")
    assert len(rebuilds) >= 1
    count = len(rebuilds)
    segmentation.GetSegment(segment_id).SetName("my liver")  # renamed in the Segment Editor
    assert len(rebuilds) > count
    count = len(rebuilds)
    node.GetDisplayNode().SetSegmentVisibility(segment_id, False)
    assert refreshes and len(rebuilds) == count  # visibility only refreshes the checkboxes
    segmentation.RemoveSegment(segment_id)
    assert len(rebuilds) > count
    watcher.watch(None)  # another node chosen: the old one is no longer observed
    segmentation.AddEmptySegment("spleen")
    assert len(rebuilds) == count + 1


def test_ui_lists_scalar_volumes_only_and_has_a_show_3d_button():
    import xml.etree.ElementTree as ElementTree

    from slicer_test_support import MODULE_DIR

    root = ElementTree.parse(MODULE_DIR / "Resources" / "UI" / "SALTSegmentation.ui").getroot()
    widgets = {w.get("name"): w for w in root.iter("widget")}
    selector = widgets["inputVolumeSelector"]
    properties = {p.get("name"): p for p in selector.findall("property")}
    assert properties["showChildNodeTypes"].find("bool").text == "false"  # no labelmaps offered as CT
    assert widgets["show3DButton"].get("class") == "qMRMLSegmentationShow3DButton"
    declared = {c.find("class").text for c in root.iter("customwidget")}
    assert {"qMRMLSegmentationShow3DButton", "ctkMenuButton"} <= declared


def test_importing_a_result_rebuilds_the_tree_once_with_the_tree_stored(published_tree):
    from slicer_test_support import load_ct, reference_result
    from SALTSegmentationLib.scene.importer import import_result
    from SALTSegmentationLib.scene.subtrees import tree_panel_model

    scene = new_scene()
    volume = load_ct(scene)
    node = scene.AddNewNodeByClass("vtkMRMLSegmentationNode")
    node.CreateDefaultDisplayNodes()
    models = []
    watcher = SegmentationWatcher(lambda: models.append(tree_panel_model(node)), lambda: None)
    watcher.watch(node)
    import_result(reference_result(published_tree), node, volume)
    assert len(models) == 1 and models[0] is not None  # one rebuild, after the tree was stored
    assert models[0].children(None)


def loaded_terminology_colors() -> dict[tuple[str, str], tuple[tuple[int, int, int], str]]:
    """(type code, modifier code or "") → (recommended colour, 3D Slicer label), as slicer-core's
    real terminology logic reads them from the shipped file."""
    logic = slicer.vtkSlicerTerminologiesModuleLogic()
    name = logic.LoadTerminologyFromFile(str(TERMINOLOGY_FILE))
    assert name == TERMINOLOGY_CONTEXT
    category = slicer.vtkSlicerTerminologyCategory()
    assert logic.GetNthCategoryInTerminology(name, 0, category)
    colors = {}
    for index in range(logic.GetNumberOfTypesInTerminologyCategory(name, category)):
        entry = slicer.vtkSlicerTerminologyType()
        logic.GetNthTypeInTerminologyCategory(name, category, index, entry)
        colors[(entry.GetCodeValue(), "")] = (tuple(entry.GetRecommendedDisplayRGBValue()), entry.GetSlicerLabel())
        for side in range(logic.GetNumberOfTypeModifiersInTerminologyType(name, category, entry)):
            modifier = slicer.vtkSlicerTerminologyType()
            logic.GetNthTypeModifierInTerminologyType(name, category, entry, side, modifier)
            colors[(entry.GetCodeValue(), modifier.GetCodeValue())] = (
                tuple(modifier.GetRecommendedDisplayRGBValue()), modifier.GetSlicerLabel())
    return colors


def test_terminology_types_carry_the_colour_and_name_of_the_engine(published_tree):
    from saltseg.tree.colors import node_colors, to_rgb255

    colors = loaded_terminology_colors()
    assert len([key for key in colors if not key[1]]) == 68
    grey = (127, 127, 127)  # what Slicer gives a type without recommendedDisplayRGBValue
    assert all(color != grey for color, _ in colors.values())
    engine = node_colors(published_tree)
    checked = set()
    for node in range(len(published_tree)):
        code = anatomic_code(published_tree.path(node))
        if code is None:
            continue
        key = (code.value, code.laterality[0] if code.laterality else "")
        color, label = colors[key]
        assert color == to_rgb255(engine[node]), published_tree.path(node)
        assert label == published_tree.display_name(node)
        checked.add(key)
    sided = {code for code, side in colors if side}
    # Every structure was checked; only a sided type's own entry (e.g. "Kidney") is no tree node.
    assert checked == {key for key in colors if key[1] or key[0] not in sided}


def test_imported_segments_have_the_colour_their_terminology_type_recommends(published_tree):
    from slicer_test_support import load_ct, reference_result
    from saltseg.tree.colors import to_rgb255
    from SALTSegmentationLib.scene.importer import import_result
    from SALTSegmentationLib.scene.terminology import TERMINOLOGY_TAG

    colors = loaded_terminology_colors()
    scene = new_scene()
    volume = load_ct(scene)
    node = scene.AddNewNodeByClass("vtkMRMLSegmentationNode")
    node.CreateDefaultDisplayNodes()
    import_result(reference_result(published_tree), node, volume)
    segmentation = node.GetSegmentation()
    compared = 0
    for index in range(segmentation.GetNumberOfSegments()):
        segment = segmentation.GetNthSegment(index)
        entry = vtk.reference("")
        if not segment.GetTag(TERMINOLOGY_TAG, entry):
            continue
        fields = str(entry).split("~")
        if fields[0] != TERMINOLOGY_CONTEXT:
            continue  # a structure without a SALT code keeps Slicer's default entry ("Tissue")
        type_code, modifier_code = fields[2].split("^")[1], fields[3].split("^")[1]
        assert to_rgb255(segment.GetColor()) == colors[(type_code, modifier_code)][0], segment.GetName()
        compared += 1
    assert compared >= 30
