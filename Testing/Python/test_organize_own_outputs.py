"""``saltseg organize`` on this project's own outputs: every structure goes to the tree path its
writer tagged it with, exactly, before any name scheme is tried — the output of ``organize`` itself
(``.seg.nrrd``, or a labelmap with its ``.labels.json``), the demo's ``.seg.nrrd`` and a batch DICOM
SEG of the demo model, whose coarse leaves (the whole cervical spine) are groups of SALT's tree."""
from __future__ import annotations

import json

import numpy as np
import pytest
import SimpleITK as sitk
import slicerio

from own_outputs_support import (add_tagged_segment, merge_segments, segment_tags, write_demo_dicom_seg,
                                 write_demo_seg_nrrd)
from saltseg.cli import main
from saltseg.errors import InputImageError, MappingError
from saltseg.io.writers import HEADER_TREE, TAG_MODEL_ID, TAG_TREE_PATH
from saltseg.models.catalog import DEMO_MODEL_ID
from saltseg.organize.mapping import OWN_TAGS
from saltseg.organize.organize_file import organise_file, organise_input
from saltseg.phantom import phantom_tree

KIDNEYS = "body,abdominal_cavity,kidneys"
CERVICAL_SPINE = "body,bones,spine,cervical_spine"


def _placed(result) -> list[str]:
    """The tree path each structure was placed on, in label value order."""
    return [",".join(result.placement.paths[value]) for value in sorted(result.placement.paths)]


def _voxels(result) -> dict[str, int]:
    """Voxel count per tree path in the organised labelmap."""
    array = sitk.GetArrayViewFromImage(result.labelmap)
    return {",".join(path): int((array == result.tree.label_value(path)).sum())
            for path in result.placement.paths.values()}


@pytest.fixture(scope="module")
def organised_once(shared_data, tmp_path_factory):
    """``saltseg organize`` of TotalSegmentator's example: our .seg.nrrd, and its result."""
    output = tmp_path_factory.mktemp("organised") / "ts.seg.nrrd"
    result = organise_file(shared_data / "example_seg.nii.gz", output, scheme="totalsegmentator")
    return output, result


def test_organize_output_is_read_back_by_its_tree_path_tags(organised_once, tmp_path, capsys):
    first_output, first = organised_once
    output = tmp_path / "again.seg.nrrd"
    assert main(["organize", str(first_output), "-o", str(output)]) == 0
    assert f"scheme {OWN_TAGS}: 41/41 structures placed (100%)" in capsys.readouterr().err
    again = organise_input(first_output)
    assert sorted(_placed(again)) == sorted(segment_tags(first_output))
    assert again.tree == first.tree
    assert np.array_equal(sitk.GetArrayViewFromImage(again.labelmap), sitk.GetArrayViewFromImage(first.labelmap))


def test_organized_labelmap_is_read_back_by_its_label_table(shared_data, tmp_path):
    first = organise_file(shared_data / "example_seg.nii.gz", tmp_path / "ts.nii.gz", scheme="totalsegmentator")
    again = organise_input(tmp_path / "ts.nii.gz")  # ts.labels.json beside it
    assert again.placement.scheme == OWN_TAGS
    assert again.placement.matched == 41
    assert sorted(_placed(again)) == sorted(_placed(first))
    assert again.tree == first.tree


def test_demo_seg_nrrd_is_read_by_its_tags_not_guessed_as_cads(tmp_path):
    path = tmp_path / "phantom_03000.seg.nrrd"
    labels = write_demo_seg_nrrd(path)
    tags = segment_tags(path)
    result = organise_input(path)
    assert result.placement.scheme == OWN_TAGS
    assert result.placement.matched == len(tags) == result.placement.total
    assert _placed(result) == tags  # every segment on its own tagged path, in segment order
    assert result.tree.is_leaf(CERVICAL_SPINE)  # the demo's whole cervical spine, not C1..C7
    source = sitk.GetArrayViewFromImage(labels)
    tree = phantom_tree()
    assert _voxels(result) == {tag: int((source == tree.label_value(tag)).sum()) for tag in tags}


def test_batch_dicom_seg_of_the_demo_model_places_its_coarse_leaves_on_their_groups(shared_data, tmp_path):
    pytest.importorskip("highdicom")
    seg, counts = write_demo_dicom_seg(shared_data, tmp_path)
    result = organise_input(seg)
    assert result.placement.scheme == OWN_TAGS
    assert result.placement.matched == len(counts) == result.placement.total
    assert _placed(result) == sorted(counts)  # segments are numbered in tree order
    assert result.tree.is_leaf(CERVICAL_SPINE)
    assert _voxels(result) == counts


def test_merged_subtree_segment_is_placed_at_its_group(organised_once, tmp_path):
    first_output, first = organised_once
    merged = tmp_path / "merged.seg.nrrd"
    kidney_voxels = merge_segments(first_output, merged, KIDNEYS)
    result = organise_input(merged)
    assert result.placement.scheme == OWN_TAGS
    assert KIDNEYS in _placed(result)
    assert result.tree.is_leaf(KIDNEYS)
    assert _voxels(result)[KIDNEYS] == kidney_voxels
    assert len(result.tree.leaves) == len(first.tree.leaves) - 1  # the two kidneys became one leaf


def test_group_segment_beside_segments_of_its_own_subtree_is_refused_and_nothing_written(organised_once, tmp_path):
    first_output, _ = organised_once
    both = tmp_path / "both.seg.nrrd"
    add_tagged_segment(first_output, both, KIDNEYS, "Kidneys")  # the left and right kidney stay
    output = tmp_path / "out.seg.nrrd"
    with pytest.raises(MappingError, match="'body,abdominal_cavity,kidneys' holds a structure of its own and "
                                           "structures below it"):
        organise_file(both, output)
    assert not output.exists()


def test_damaged_tree_path_tag_is_refused_by_name(organised_once, tmp_path):
    first_output, _ = organised_once
    document = slicerio.read_segmentation(str(first_output))
    document["segments"][0]["tags"][TAG_TREE_PATH] = "body,,liver"
    damaged = tmp_path / "damaged.seg.nrrd"
    slicerio.write_segmentation(str(damaged), document)
    with pytest.raises(MappingError, match="segment 'Left adrenal gland': its SALT.TreePath tag: empty node name"):
        organise_input(damaged)


def test_segments_that_lost_their_tags_are_read_by_their_ids_in_the_stored_tree(organised_once, tmp_path):
    first_output, first = organised_once
    document = slicerio.read_segmentation(str(first_output))
    for segment in document["segments"]:
        segment["tags"] = {}  # e.g. re-saved by a tool that drops custom tags; IDs and header stay
    untagged = tmp_path / "untagged.seg.nrrd"
    slicerio.write_segmentation(str(untagged), document)
    result = organise_input(untagged)
    assert result.placement.scheme == OWN_TAGS
    assert sorted(_placed(result)) == sorted(_placed(first))


def test_damaged_stored_tree_is_refused_when_it_is_needed(organised_once, tmp_path):
    first_output, _ = organised_once
    document = slicerio.read_segmentation(str(first_output))
    document["segments"][0]["tags"] = {}
    document[HEADER_TREE] = '{"format": "saltseg-label-tree", "nodes": [{"path": ["body"]}]}'
    damaged = tmp_path / "damaged_tree.seg.nrrd"
    slicerio.write_segmentation(str(damaged), document)
    with pytest.raises(InputImageError, match="its stored label tree \\(SALT_LabelTree\\) is damaged"):
        organise_input(damaged)


def _model_ids(path) -> set[str]:
    document = slicerio.read_segmentation(str(path), skip_voxels=True)
    return {segment["tags"][TAG_MODEL_ID] for segment in document["segments"]}


def test_a_models_result_organised_again_still_names_that_model(tmp_path):
    demo = tmp_path / "phantom_03000.seg.nrrd"
    write_demo_seg_nrrd(demo)
    organise_file(demo, tmp_path / "again.seg.nrrd")
    assert _model_ids(tmp_path / "again.seg.nrrd") == {DEMO_MODEL_ID}


def test_a_models_labelmap_organised_again_still_names_that_model(tmp_path):
    demo = tmp_path / "phantom_03000.seg.nrrd"
    write_demo_seg_nrrd(demo)
    organise_file(demo, tmp_path / "again.nii.gz")
    organise_file(tmp_path / "again.nii.gz", tmp_path / "twice.nii.gz")  # read by its .labels.json
    assert json.loads((tmp_path / "twice.labels.json").read_text())["model_id"] == DEMO_MODEL_ID


def test_an_organised_result_organised_again_keeps_the_scheme_it_was_placed_by(organised_once, tmp_path):
    first_output, _ = organised_once
    organise_file(first_output, tmp_path / "again.seg.nrrd")  # placed by its own tags this time
    assert _model_ids(tmp_path / "again.seg.nrrd") == {"organized:totalsegmentator"}
