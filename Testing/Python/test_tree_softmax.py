"""Tree softmax equals the paper's equations (an independent float64 formulation on the adjacency
matrix, paper_tree_softmax.py) and stays vectorised."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import BUNDLED_TREE, random_tree_paths
from paper_tree_softmax import paper_tree_softmax, tree_from_labels_file
from saltseg.tree.labeltree import LabelTree
from saltseg.tree.tree_softmax import TreeSoftmax, argmax_leaves

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def engine_tree(nodes, adjacency) -> LabelTree:
    """The engine's tree from an adjacency matrix built by the test (the config.pkl route)."""
    return LabelTree.from_config([list(node) for node in nodes], adjacency)


def paths_file(tmp_path, paths) -> Path:
    path = tmp_path / "tree-labels.txt"
    path.write_text("\n".join(",".join(p) for p in paths) + "\n")
    return path


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("seed, num_nodes, depth", [(0, 12, 2), (1, 60, 4), (2, 200, 6), (3, 180, 6)])
def test_matches_the_papers_equations_on_random_trees(tmp_path, seed, num_nodes, depth, device):
    rng = np.random.default_rng(seed)
    nodes, adjacency = tree_from_labels_file(paths_file(tmp_path, random_tree_paths(rng, num_nodes, depth)))
    tree = engine_tree(nodes, adjacency)
    assert len(tree) >= num_nodes // 2 and tree.max_depth <= depth
    logits = torch.randn(2, len(tree), 3, 4, 5, dtype=torch.float64) * 8
    expected = torch.from_numpy(np.stack([paper_tree_softmax(b.numpy(), adjacency) for b in logits]))
    probabilities = TreeSoftmax(tree).to(device)(logits.to(device)).cpu().double()
    assert torch.allclose(probabilities, expected, atol=1e-6)
    log_p = TreeSoftmax(tree, log=True).to(device)(logits.to(device)).cpu().double()
    assert torch.allclose(log_p.exp(), expected, atol=1e-6)
    assert torch.isfinite(log_p).all()
    leaves = torch.as_tensor(tree.leaves)
    assert torch.equal(argmax_leaves(probabilities, leaves), expected.index_select(1, leaves).argmax(1))


@pytest.mark.parametrize("scale", [8.0, 1000.0])
def test_matches_the_papers_equations_on_the_published_tree(scale):
    """The published 145-node tree, its adjacency matrix built from SALT's own tree-labels file;
    huge logits need each group's own maximum subtracted."""
    nodes, adjacency = tree_from_labels_file(BUNDLED_TREE)
    assert len(nodes) == 145
    tree = engine_tree(nodes, adjacency)
    # float32-representable logits: the engine computes in float32, the reference in float64
    logits = np.random.default_rng(int(scale)).normal(size=(len(nodes), 4000)) * scale
    logits = logits.astype(np.float32).astype(np.float64)
    expected = paper_tree_softmax(logits, adjacency)
    ours = TreeSoftmax(tree)(torch.from_numpy(logits)[None])[0].double().numpy()
    assert np.isfinite(ours).all()
    np.testing.assert_allclose(ours, expected, atol=1e-6)
    assert np.allclose(expected[list(tree.leaves)].sum(axis=0), 1.0)  # the reference is a distribution


def test_accepts_salt_adjacency_matrix(salt_tree):
    logits = torch.randn(1, len(salt_tree), 2, 2, 2)
    assert torch.allclose(TreeSoftmax(salt_tree.adjacency_matrix)(logits), TreeSoftmax(salt_tree)(logits))


def test_graph_size_does_not_grow_with_node_count():
    """Vectorised: the traced graph has one op group per tree level, none per node."""
    rng = np.random.default_rng(5)
    sizes = []
    for num_nodes in (30, 200):
        tree = LabelTree.from_paths(random_tree_paths(rng, num_nodes, 3))
        assert tree.max_depth == 3
        traced = torch.jit.trace(TreeSoftmax(tree), torch.randn(1, len(tree), 2, 2, 2))
        sizes.append(len(list(traced.inlined_graph.nodes())))
    assert sizes[0] == sizes[1]


def test_traced_and_scripted_modules_agree(salt_tree):
    module = TreeSoftmax(salt_tree).eval()
    logits = torch.randn(2, len(salt_tree), 4, 4, 2)
    traced = torch.jit.freeze(torch.jit.trace(module, logits))
    scripted = torch.jit.script(module)
    other = torch.randn(1, len(salt_tree), 3, 5, 2)  # shapes other than the example
    for x in (logits, other):
        assert torch.allclose(traced(x), module(x)) and torch.allclose(scripted(x), module(x))
