"""Structure subsets: naming a structure, restricting a result, and ``segment --only --statistics``."""
from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import SimpleITK as sitk
import slicerio

from saltseg.analysis.subsets import resolve_structure, resolve_structures, restrict_labelmap, subset_nodes
from saltseg.cli import main
from saltseg.errors import TreeError
from saltseg.io.writers import TAG_TREE_PATH


def test_a_structure_is_named_by_path_node_name_or_readable_name(salt_tree):
    spine = salt_tree.index("body,bones,spine")
    assert resolve_structure(salt_tree, "body,bones,spine") == spine
    assert resolve_structure(salt_tree, "spine") == spine
    assert resolve_structure(salt_tree, "Spine") == spine
    assert resolve_structure(salt_tree, "L1 vertebra") == salt_tree.index("body,bones,spine,lumbar_spine,vertebrae_L1")
    with pytest.raises(TreeError, match="ambiguous.*body,muscles,other"):
        resolve_structure(salt_tree, "other")
    with pytest.raises(TreeError, match="did you mean 'Kidneys'"):
        resolve_structure(salt_tree, "kidnyes")
    with pytest.raises(TreeError, match="no structure 'body,bones,nope'"):
        resolve_structure(salt_tree, "body,bones,nope")


def test_nested_choices_collapse_to_the_outer_subtree(salt_tree):
    chosen = resolve_structures(salt_tree, ["lumbar_spine", "spine", "kidneys", "spine"])
    assert [salt_tree.node_id(n) for n in chosen] == ["body,abdominal_cavity,kidneys", "body,bones,spine"]
    nodes = subset_nodes(salt_tree, chosen)
    assert salt_tree.index("body,bones,spine,lumbar_spine,vertebrae_L1") in nodes
    assert salt_tree.index("body,bones") not in nodes


def test_restrict_keeps_only_the_chosen_leaves(salt_tree):
    left = salt_tree.label_value("body,abdominal_cavity,kidneys,kidney_left")
    liver = salt_tree.label_value("body,abdominal_cavity,liver")
    image = sitk.GetImageFromArray(np.array([[[left, liver, 0]]], np.uint8))
    image.SetSpacing((2.0, 2.0, 3.0))
    restricted = restrict_labelmap(image, salt_tree, resolve_structures(salt_tree, ["kidneys"]))
    assert sitk.GetArrayFromImage(restricted).tolist() == [[[left, 0, 0]]]
    assert restricted.GetSpacing() == (2.0, 2.0, 3.0)


def test_segment_only_and_statistics(tmp_path, shared_data, salt_threshold_model, salt_tree):
    ct = shared_data / "example_ct_sm.nii.gz"
    full = tmp_path / "full.seg.nrrd"
    assert main(["segment", str(ct), "-o", str(full), "--model", str(salt_threshold_model), "--quiet",
                 "--statistics", str(tmp_path / "full.json")]) == 0
    output = tmp_path / "bones.seg.nrrd"
    assert main(["segment", str(ct), "-o", str(output), "--model", str(salt_threshold_model), "--quiet",
                 "--only", "bones", "--statistics", str(tmp_path / "bones.csv")]) == 0
    all_segments = slicerio.read_segmentation(str(full))["segments"]
    segments = slicerio.read_segmentation(str(output))["segments"]
    assert len(segments) < len(all_segments)
    assert {s["tags"][TAG_TREE_PATH] for s in segments} == {s["tags"][TAG_TREE_PATH] for s in all_segments
                                                            if s["tags"][TAG_TREE_PATH].startswith("body,bones,")}
    with open(tmp_path / "bones.csv", newline="") as handle:
        subset_rows = {row["node"]: row for row in csv.DictReader(handle)}
    assert set(subset_rows) == {salt_tree.node_id(n) for n in salt_tree.subtree("body,bones")}
    full_rows = {row["node"]: row for row in json.loads((tmp_path / "full.json").read_text())["nodes"]}
    assert len(full_rows) == len(salt_tree) - 1
    # The bones are the same voxels whether or not the other structures were kept.
    assert int(subset_rows["body,bones"]["voxels"]) == full_rows["body,bones"]["voxels"] > 0
    assert float(subset_rows["body,bones"]["mean_hu"]) == pytest.approx(full_rows["body,bones"]["mean_hu"], abs=0.006)


def test_segment_refuses_an_unknown_structure_before_any_work(tmp_path, shared_data, salt_threshold_model, capsys):
    output = tmp_path / "x.seg.nrrd"
    assert main(["segment", str(shared_data / "example_ct_sm.nii.gz"), "-o", str(output), "--model",
                 str(salt_threshold_model), "--quiet", "--only", "kidnyes"]) == 1
    assert "did you mean 'Kidneys'" in capsys.readouterr().err
    assert main(["segment", str(shared_data / "example_ct_sm.nii.gz"), "-o", str(output), "--model",
                 str(salt_threshold_model), "--quiet", "--statistics", str(tmp_path / "s.txt")]) == 1
    assert not list(tmp_path.iterdir())
