""""Show as label tree" on real MRML: a .seg.nrrd written by Slicer with SNOMED CT terminology
(as SlicerTotalSegmentator writes it, segment names meaningless) is organised by its codes; the
segments keep their IDs, names, colours and voxels; the tree panel then shows the anatomy; the
widget action through the Qt-free controller."""
from __future__ import annotations

import json
import sys

import numpy as np
import pytest
import SimpleITK as sitk

from slicer_test_support import SHARED_DATA, load_ct, new_scene, published_tree, require_shared_data  # noqa: F401

import slicer  # noqa: E402
from saltseg.io.writers import TAG_TREE_PATH  # noqa: E402
from saltseg.organize.organize_file import organise_input  # noqa: E402
from SALTSegmentationLib.processes.process_runner import SubprocessRunner  # noqa: E402
from SALTSegmentationLib.scene.logic_core import SegmentationLogicCore  # noqa: E402
from SALTSegmentationLib.scene.mrml_helpers import BINARY_LABELMAP, oriented_image_from_array, segment_tag  # noqa: E402
from SALTSegmentationLib.scene.subtrees import subtree_segment_ids, tree_panel_model  # noqa: E402
from SALTSegmentationLib.scene.tree_storage import load_tree  # noqa: E402
from SALTSegmentationLib.widgets.controller import ModuleController  # noqa: E402
from controller_support import Probe, RecordingView  # noqa: E402

#: TotalSegmentator value → (SNOMED CT type, meaning, side) as SlicerTotalSegmentator's table
#: (totalsegmentator_snomed_mapping.csv) codes them.
CODED = {
    1: ("78961009", "Spleen", None), 2: ("64033007", "Kidney", "R"), 3: ("64033007", "Kidney", "L"),
    5: ("10200004", "Liver", None), 10: ("45653009", "Upper lobe of lung", "L"),
    13: ("72481006", "Middle lobe of right lung", None), 14: ("90572001", "Lower lobe of lung", "R"),
    31: ("66794005", "L1 vertebra", None), 52: ("15825003", "Aorta", None),
    86: ("244849004", "Deep muscle of back", "L"), 87: ("244849004", "Deep muscle of back", "R"),
    98: ("24915002", "Seventh rib", "L"), 110: ("24915002", "Seventh rib", "R"),
    117: ("50016007", "Costal cartilage", None),
}
SIDES = {"L": "SCT^7771000^Left", "R": "SCT^24028007^Right", None: "^^"}
CONTEXT = "Segmentation category and type - Total Segmentator"


def terminology(code: str, meaning: str, side) -> str:
    return "~".join([CONTEXT, "SCT^123037004^Anatomical Structure", f"SCT^{code}^{meaning}", SIDES[side],
                     "Anatomic codes - DICOM master list", "^^", "^^"])


def ts_names() -> dict[int, str]:
    return {int(v): n for v, n in json.loads((SHARED_DATA / "example_seg_labels.json").read_text()).items()}


def build_segmentation(scene, volume, coded: bool):
    """A segmentation node as Slicer holds one: a segment per structure, on the CT's grid."""
    labels = sitk.GetArrayFromImage(sitk.ReadImage(str(SHARED_DATA / "example_seg.nii.gz")))
    names = ts_names()
    node = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "TotalSegmentator")
    node.CreateDefaultDisplayNodes()
    node.SetReferenceImageGeometryParameterFromVolumeNode(volume)
    for index, value in enumerate(sorted(CODED)):
        segment = slicer.vtkSegment()
        segment.SetName(f"Segment_{index + 1}" if coded else names[value])
        segment.SetColor(0.1 + index / 50.0, 0.5, 0.9 - index / 50.0)
        mask = oriented_image_from_array((labels == value).astype(np.uint8), volume)
        segment.AddRepresentation(BINARY_LABELMAP, mask)
        if coded:
            segment.SetTag("TerminologyEntry", terminology(*CODED[value]))
        node.GetSegmentation().AddSegment(segment, f"seg{value}")
    return node, labels


def write_seg_nrrd(scene, node, path):
    storage = scene.AddNewNodeByClass("vtkMRMLSegmentationStorageNode")
    storage.SetFileName(str(path))
    assert storage.WriteData(node)
    return path


def read_seg_nrrd(path):
    scene = new_scene()
    node = scene.AddNewNodeByClass("vtkMRMLSegmentationNode")
    storage = scene.AddNewNodeByClass("vtkMRMLSegmentationStorageNode")
    storage.SetFileName(str(path))
    node.SetAndObserveStorageNodeID(storage.GetID())
    assert storage.ReadData(node)
    node.CreateDefaultDisplayNodes()
    return scene, node


@pytest.fixture(scope="module")
def snomed_seg_nrrd(tmp_path_factory):
    require_shared_data()
    scene = new_scene()
    volume = load_ct(scene)
    node, labels = build_segmentation(scene, volume, coded=True)
    path = write_seg_nrrd(scene, node, tmp_path_factory.mktemp("snomed") / "coded.seg.nrrd")
    return path, labels


def test_engine_organises_a_slicer_seg_nrrd_by_its_codes(snomed_seg_nrrd):
    path, labels = snomed_seg_nrrd
    result = organise_input(path)
    placement = result.placement
    assert placement.scheme == "snomed" and placement.unmapped == [] and placement.matched == len(CODED)
    names = ts_names()
    tree, organised = result.tree, sitk.GetArrayViewFromImage(result.labelmap)
    for value in CODED:  # every structure on its own leaf, sides kept, voxels unchanged
        leaf = tree.path(tree.leaf_for_value(int(np.unique(organised[labels == value])[0])))
        assert leaf[-1] == names[value]
        assert int((organised == tree.label_value(leaf)).sum()) == int((labels == value).sum())


def test_slicer_organize_tags_segments_and_keeps_ids_names_colours(snomed_seg_nrrd):
    path, labels = snomed_seg_nrrd
    scene, node = read_seg_nrrd(path)
    segmentation = node.GetSegmentation()
    before = {segmentation.GetNthSegmentID(i): (segmentation.GetNthSegment(i).GetName(),
                                                 segmentation.GetNthSegment(i).GetColor())
              for i in range(segmentation.GetNumberOfSegments())}
    placement = SegmentationLogicCore().organize(node, scheme="auto")
    assert placement.scheme == "snomed" and placement.matched == len(CODED)
    after = {segmentation.GetNthSegmentID(i): (segmentation.GetNthSegment(i).GetName(),
                                                segmentation.GetNthSegment(i).GetColor())
             for i in range(segmentation.GetNumberOfSegments())}
    assert after == before  # not re-created: same IDs, names, colours
    assert segment_tag(segmentation.GetSegment("seg3"), TAG_TREE_PATH) == "body,abdominal_cavity,kidneys,kidney_left"
    assert segment_tag(segmentation.GetSegment("seg2"), TAG_TREE_PATH) == "body,abdominal_cavity,kidneys,kidney_right"
    assert sorted(subtree_segment_ids(node, "body,bones,rib_cage")) == ["seg110", "seg117", "seg98"]
    assert load_tree(node).is_leaf("body,thoracic_cavity,mediastinum,aorta")
    # The tree panel sums the leaves: both kidneys together.
    model = tree_panel_model(node)
    kidneys = model.volume_ml(model.tree.index("body,abdominal_cavity,kidneys"))
    voxel_ml = 27.0 / 1000.0  # the shared CT is 3 mm isotropic
    assert kidneys == pytest.approx(int(np.isin(labels, (2, 3)).sum()) * voxel_ml, rel=1e-6)
    # Saved and reloaded, the tree and the tags come back.
    resaved = path.with_name("organised.seg.nrrd")
    write_seg_nrrd(scene, node, resaved)
    _, reloaded = read_seg_nrrd(resaved)
    assert load_tree(reloaded) == load_tree(node)
    assert segment_tag(reloaded.GetSegmentation().GetSegment("seg3"), TAG_TREE_PATH).endswith("kidney_left")


def test_names_place_segments_without_codes_and_user_edits_stay():
    require_shared_data()
    scene = new_scene()
    volume = load_ct(scene)
    node, _ = build_segmentation(scene, volume, coded=False)
    node.GetSegmentation().GetSegment("seg5").SetName("my liver")  # a user's rename
    node.GetSegmentation().GetSegment("seg5").SetColor(1.0, 0.0, 0.0)
    extra = slicer.vtkSegment()
    extra.SetName("tumour")
    node.GetSegmentation().AddSegment(extra, "tumour")
    placement = SegmentationLogicCore().organize(node)
    assert placement.scheme == "totalsegmentator"
    assert placement.unmapped == ["my liver", "tumour"]  # named, kept, never dropped
    seg = node.GetSegmentation()
    assert seg.GetSegment("seg5").GetName() == "my liver" and seg.GetSegment("seg5").GetColor() == (1.0, 0.0, 0.0)
    assert segment_tag(seg.GetSegment("tumour"), TAG_TREE_PATH) == "unmapped,tumour"
    assert segment_tag(seg.GetSegment("seg87"), TAG_TREE_PATH) == "body,muscles,autochthone,autochthon_right"
    # Organising again (e.g. after edits) keeps every placement.
    again = SegmentationLogicCore().organize(node)
    assert again.paths == placement.paths


def test_show_as_label_tree_action_through_the_controller():
    require_shared_data()
    scene = new_scene()
    volume = load_ct(scene)
    node, _ = build_segmentation(scene, volume, coded=True)
    view = RecordingView()
    ctl = ModuleController(view, SegmentationLogicCore(), sys.executable, SubprocessRunner, Probe())
    ctl.tree_actions.on_show_as_label_tree(node)
    assert view.output is node and view.errors == []
    assert view.status.startswith("TotalSegmentator: scheme snomed: 14/14 structures placed (100%)")
    ctl.tree_actions.on_show_as_label_tree(None)
    assert view.errors == ["Select the segmentation to show as a label tree."]
    empty = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "Empty")
    ctl.tree_actions.on_show_as_label_tree(empty)
    assert view.errors[-1] == "the segmentation 'Empty' has no segments"


def test_organising_a_salt_result_keeps_the_model_that_made_its_segments(published_tree):
    from slicer_test_support import reference_result
    from SALTSegmentationLib.scene.importer import import_result
    from SALTSegmentationLib.scene.tree_storage import model_id_of
    from saltseg.io.writers import TAG_MODEL_ID

    scene = new_scene()
    volume = load_ct(scene)
    node = scene.AddNewNodeByClass("vtkMRMLSegmentationNode")
    node.CreateDefaultDisplayNodes()
    import_result(reference_result(published_tree, "salt-v1"), node, volume)
    segmentation = node.GetSegmentation()
    made_by_salt = [segmentation.GetNthSegmentID(i) for i in range(segmentation.GetNumberOfSegments())]
    drawn = slicer.vtkSegment()
    drawn.SetName("tumour")  # the user's own segment, added after the run
    segmentation.AddSegment(drawn, "tumour")
    SegmentationLogicCore().organize(node)
    assert {segment_tag(segmentation.GetSegment(s), TAG_MODEL_ID) for s in made_by_salt} == {"salt-v1"}
    assert segment_tag(segmentation.GetSegment("tumour"), TAG_MODEL_ID).startswith("organized:")
    assert model_id_of(node) == "salt-v1"
