"""Label tree: SALT's node order, structure queries, validation and JSON."""
from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

from saltseg.tree.colors import node_colors
from saltseg.errors import TreeError
from saltseg.tree.labeltree import LabelTree, parse_tree_labels


def salt_rule_order(lines: list[str]) -> list[tuple[str, ...]]:
    """SALT's rule written out independently: add every prefix in file order, then sort."""
    vocabulary: list[tuple[str, ...]] = []
    for line in lines:
        if line in ("", "-"):
            continue
        parts = tuple(line.split(","))
        for i in range(1, len(parts) + 1):
            if parts[:i] not in vocabulary:
                vocabulary.append(parts[:i])
    return sorted(vocabulary)


def test_published_tree_order_matches_salt_rule(salt_tree, shared_data):
    lines = (shared_data / "salt_label_trees" / "saros+totalseg" / "tree-labels.txt").read_text().splitlines()
    assert list(salt_tree.paths) == salt_rule_order(lines)
    assert (len(salt_tree), len(salt_tree.leaves), salt_tree.max_depth) == (145, 114, 5)
    # SALT's argmax_leaves: leaves are the rows of adjacency[1:, 1:] without children.
    adjacency = salt_tree.adjacency_matrix
    assert list(np.where(adjacency[1:, 1:].sum(axis=1) == 0)[0]) == list(salt_tree.leaves)


def test_label_values_follow_sorted_leaf_list(salt_tree):
    assert salt_tree.background_value == 0
    assert salt_tree.leaf_paths[0] == ("background",)
    right = salt_tree.label_value("body,abdominal_cavity,kidneys,kidney_right")
    left = salt_tree.label_value(("body", "abdominal_cavity", "kidneys", "kidney_left"))
    assert left == right - 1  # "kidney_left" sorts before "kidney_right"
    assert salt_tree.leaf_for_value(right) == salt_tree.index("body,abdominal_cavity,kidneys,kidney_right")
    with pytest.raises(KeyError, match="not a leaf"):
        salt_tree.label_value("body,bones")


def test_structure_queries(salt_tree):
    l1 = salt_tree.index("body,bones,spine,lumbar_spine,vertebrae_L1")
    lumbar = salt_tree.index("body,bones,spine,lumbar_spine")
    assert salt_tree.parent(l1) == lumbar
    assert salt_tree.depth(l1) == 5 and salt_tree.depth("body") == 1
    assert [salt_tree.path(a)[-1] for a in salt_tree.ancestors(l1)] == ["body", "bones", "spine", "lumbar_spine"]
    lumbar_subtree = salt_tree.subtree(lumbar)
    assert len(lumbar_subtree) == 6 and lumbar in lumbar_subtree
    assert len(salt_tree.subtree_label_values(lumbar)) == 5
    assert salt_tree.children(lumbar) == tuple(sorted(salt_tree.children(lumbar)))
    assert salt_tree.node_id(l1) == "body,bones,spine,lumbar_spine,vertebrae_L1"
    # Sibling groups partition all nodes; each group shares one parent.
    groups = salt_tree.sibling_groups
    assert sorted(itertools.chain(*groups)) == list(range(len(salt_tree)))
    assert all(len({salt_tree.parent(n) for n in g}) == 1 and len(g) >= 2 for g in groups)


def test_display_names_are_readable_but_paths_stay_keys(salt_tree):
    names = {
        "body,bones,spine,lumbar_spine,vertebrae_L1": "L1 vertebra",
        "body,bones,rib_cage,rib_cage_left,rib_left_3": "Left rib 3",
        "body,abdominal_cavity,kidneys,kidney_right": "Right kidney",
        "body,bones,other": "Other (bones)",
        "background": "Background",
    }
    for path, name in names.items():
        assert salt_tree.display_name(path) == name
    all_names = [salt_tree.display_name(i) for i in range(len(salt_tree))]
    assert all(name and "_" not in name for name in all_names)


def test_single_child_is_rejected_with_line(shared_data):
    # CT-ORG alone has no 'background' beside 'body' (valid only once fused with other datasets).
    with pytest.raises(TreeError, match=r"ctorg/tree-labels.txt:2: node '<root>' has a single child 'body'"):
        LabelTree.from_tree_labels_file(shared_data / "salt_label_trees" / "ctorg" / "tree-labels.txt")


def test_fusing_datasets_unions_their_paths(shared_data, salt_tree):
    trees = shared_data / "salt_label_trees"
    fused = LabelTree.from_tree_labels_file(trees / "saros+totalseg" / "tree-labels.txt",
                                            trees / "word" / "tree-labels.txt")
    assert fused == salt_tree  # WORD adds no node the published tree lacks


@pytest.mark.parametrize("text, message", [
    ("background\nbody,a\nbody,b\nbody,a\n",
     r"tree-labels.txt:4: duplicate path 'body,a' \(already on tree-labels.txt:2\)"),
    ("background\nbody,a,body\nbody,b\n", r":2: 'body,a,body' is a cycle"),
    ("background\nbody,,x\nbody,y\n", r":2: empty node name"),
    ("background\nbody,a,x\nbody,b\n", r":2: node 'body,a' has a single child 'x'"),
])
def test_malformed_tree_files_name_the_line(text, message):
    with pytest.raises(TreeError, match=message):
        LabelTree.from_source_labels(parse_tree_labels(text, source="tree-labels.txt"))


def test_unused_values_are_kept_in_source_labels():
    labels = parse_tree_labels("-\nbackground\n\nbody,a\nbody,b\n")
    assert [label.value for label in labels if label.path] == [1, 3, 4]


def test_config_matrix_round_trip_and_errors(salt_tree):
    assert LabelTree.from_config(salt_tree.paths, salt_tree.adjacency_matrix) == salt_tree
    matrix = salt_tree.adjacency_matrix
    two_parents = matrix.copy()
    two_parents[1, 5] = 1
    with pytest.raises(TreeError, match=r"label_names\[4\] .* has 2 parents"):
        LabelTree.from_config(salt_tree.paths, two_parents)
    # A 2-cycle detached from the root: each node has exactly one parent but is unreachable.
    names = [("a",), ("b",), ("c",), ("c", "d")]
    cyclic = np.zeros((5, 5), np.uint8)
    cyclic[0, 1] = cyclic[0, 2] = 1
    cyclic[4, 3] = cyclic[3, 4] = 1
    with pytest.raises(TreeError, match="cycle"):
        LabelTree.from_config(names, cyclic)
    with pytest.raises(TreeError, match="shape"):
        LabelTree.from_config(salt_tree.paths[:-1], matrix)
    wrong_path = list(salt_tree.paths)
    wrong_path[3] = ("elsewhere",) + wrong_path[3][1:]
    with pytest.raises(TreeError, match=r"label_names\[3\] .* not a child path"):
        LabelTree.from_config(wrong_path, matrix)


def test_json_round_trip_carries_names_colours_and_values(salt_tree):
    document = json.loads(salt_tree.to_json())
    assert LabelTree.from_json(document) == salt_tree
    l1 = document["nodes"][salt_tree.index("body,bones,spine,lumbar_spine,vertebrae_L1")]
    assert l1["name"] == "L1 vertebra" and l1["label_value"] is not None and len(l1["color"]) == 3
    with pytest.raises(TreeError):
        LabelTree.from_json('{"format": "something-else"}')


def test_colours_siblings_distinguishable_subtrees_recognisable(salt_tree):
    colors = np.asarray(node_colors(salt_tree))
    for group in salt_tree.sibling_groups:
        for a, b in itertools.combinations(group, 2):
            assert np.linalg.norm(colors[a] - colors[b]) > 0.05, (salt_tree.node_id(a), salt_tree.node_id(b))
    import colorsys

    def hue(node):
        return colorsys.rgb_to_hls(*colors[node])[0]

    def hue_distance(a, b):
        d = abs(hue(a) - hue(b))
        return min(d, 1 - d)

    # Every rib is closer in hue to the other ribs than to any lung lobe.
    ribs = [n for n in salt_tree.subtree("body,bones,rib_cage") if salt_tree.is_leaf(n)]
    lobes = [n for n in salt_tree.subtree("body,thoracic_cavity,lungs") if salt_tree.is_leaf(n)]
    worst_within = max(hue_distance(a, b) for a, b in itertools.combinations(ribs, 2))
    best_across = min(hue_distance(a, b) for a in ribs for b in lobes)
    assert worst_within < best_across
    assert tuple(colors[salt_tree.leaf_for_value(0)]) == (0.0, 0.0, 0.0)  # background
