"""Which structures get a probability map of their own (*Output → Probability maps*), on the
published tree: none at first (the confidence map alone), one map per checked subtree, and a saved
choice restored with what this tree does not know left out."""
from __future__ import annotations

from slicer_test_support import published_tree  # noqa: F401
from SALTSegmentationLib.widgets.probability_choice import MapChoice


def test_at_first_only_the_confidence_map_is_asked_for(published_tree):
    choice = MapChoice(published_tree)
    assert choice.names() == []
    assert choice.summary() == "The confidence map only (check structures below for maps of their own)."


def test_a_checked_node_is_one_map_named_as_the_engine_resolves_it(published_tree):
    choice = MapChoice(published_tree)
    choice.set_checked(published_tree.index("body,bones,spine"), True)
    assert choice.names() == ["spine"]


def test_checking_every_child_asks_for_the_parents_map_once(published_tree):
    choice = MapChoice(published_tree)
    for child in published_tree.children(published_tree.index("body,abdominal_cavity,kidneys")):
        choice.set_checked(child, True)
    assert choice.names() == ["kidneys"]


def test_a_saved_choice_comes_back_without_what_the_tree_lacks(published_tree):
    choice = MapChoice(published_tree)
    unknown = choice.restore(["spine", "kidney_left", "no_such_structure"])
    assert (choice.names(), unknown) == (["kidney_left", "spine"], ["no_such_structure"])


def test_the_summary_names_the_maps(published_tree):
    choice = MapChoice(published_tree)
    choice.restore(["spine", "kidneys"])
    assert choice.summary() == "The confidence map and 2 maps of their own: Kidneys, Spine"
