"""The tree panel's behaviour, Qt-free: which segments a checkbox changes, tri-state, volumes
summed up the tree, search."""
from __future__ import annotations

import pytest

from saltseg.tree.labeltree import LabelTree

from slicer_test_support import TREE_PATH, require_shared_data

import SALTSegmentationLib  # noqa: F401  (path set-up by slicer_test_support)
from SALTSegmentationLib.scene.tree_model import CheckState, SegmentInfo, TreePanelModel

LUMBAR = [f"body,bones,spine,lumbar_spine,vertebrae_L{i}" for i in range(1, 6)]
OTHERS = ["body,bones,spine,thoracic_spine,vertebrae_T12", "body,abdominal_cavity,liver",
          "body,abdominal_cavity,kidneys,kidney_left", "body,abdominal_cavity,kidneys,kidney_right"]


@pytest.fixture()
def model() -> TreePanelModel:
    require_shared_data()
    tree = LabelTree.from_tree_labels_file(TREE_PATH)
    segments = [SegmentInfo(f"s{i}", tuple(p.split(",")), True, volume_ml=float(i + 1))
                for i, p in enumerate(LUMBAR + OTHERS)]
    segments.append(SegmentInfo("user", ("my", "own"), True, 99.0))  # not in the tree: ignored
    return TreePanelModel(tree, segments)


def node(model: TreePanelModel, path: str) -> int:
    return model.tree.index(tuple(path.split(",")))


def test_rows_are_only_nodes_with_segments(model):
    assert [model.label(n) for n in model.children(None)] == ["Body"]
    bones = node(model, "body,bones")
    spine = node(model, "body,bones,spine")
    assert model.children(bones) == [spine]  # no ribs row: no rib segments
    assert [model.node_id(n) for n in model.children(spine)] == ["body,bones,spine,lumbar_spine",
                                                                  "body,bones,spine,thoracic_spine"]


def test_unchecking_a_subtree_changes_exactly_its_segments_and_parents_go_partial(model):
    lumbar = node(model, "body,bones,spine,lumbar_spine")
    changes = model.set_checked(lumbar, False)
    assert changes == {f"s{i}": False for i in range(5)}
    assert model.check_state(lumbar) == CheckState.UNCHECKED
    assert model.check_state(node(model, "body,bones,spine")) == CheckState.PARTIAL
    assert model.check_state(node(model, "body")) == CheckState.PARTIAL
    assert model.check_state(node(model, "body,abdominal_cavity")) == CheckState.CHECKED
    # Unchecking again changes nothing; checking the partial parent shows its whole subtree.
    assert model.set_checked(lumbar, False) == {}
    assert model.set_checked(node(model, "body,bones,spine"), True) == {f"s{i}": True for i in range(5)}
    assert model.check_state(node(model, "body")) == CheckState.CHECKED


def test_show_only_subtree(model):
    kidneys = node(model, "body,abdominal_cavity,kidneys")
    changes = model.only(kidneys)
    assert {sid for sid, visible in changes.items() if visible is False} == {f"s{i}" for i in range(7)}
    assert model.check_state(kidneys) == CheckState.CHECKED
    assert model.check_state(node(model, "body,bones")) == CheckState.UNCHECKED


def test_volumes_sum_up_the_tree(model):
    assert model.volume_ml(node(model, LUMBAR[0])) == 1.0
    assert model.volume_ml(node(model, "body,bones,spine,lumbar_spine")) == 1 + 2 + 3 + 4 + 5
    assert model.volume_ml(node(model, "body,bones,spine")) == 15 + 6
    assert model.volume_ml(node(model, "body")) == sum(range(1, 10))  # the outside segment is not counted


def test_search_keeps_matches_their_ancestors_and_descendants(model):
    shown = {model.node_id(n) for n in model.matching_nodes("kidney")}
    assert shown == {"body", "body,abdominal_cavity", "body,abdominal_cavity,kidneys",
                     "body,abdominal_cavity,kidneys,kidney_left", "body,abdominal_cavity,kidneys,kidney_right"}
    assert {model.node_id(n) for n in model.matching_nodes("L3")} >= {"body,bones,spine,lumbar_spine,vertebrae_L3"}
    assert "body,abdominal_cavity,liver" not in {model.node_id(n) for n in model.matching_nodes("L3")}
    assert model.matching_nodes("  ") == model.shown_nodes()
    assert model.matching_nodes("no such structure") == set()


def test_leaf_has_its_own_segment_and_engine_colour(model):
    from saltseg.tree.colors import node_colors

    leaf = node(model, LUMBAR[2])
    assert model.segment_for(leaf) == "s2"
    assert model.segment_for(node(model, "body,bones")) is None
    assert model.color(leaf) == node_colors(model.tree)[leaf]
