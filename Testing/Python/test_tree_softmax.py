"""Tree softmax equals the textbook definition and stays vectorised."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import random_tree_paths
from saltseg.tree.labeltree import LabelTree
from saltseg.tree.tree_softmax import TreeSoftmax, argmax_leaves, reference_tree_softmax

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("seed, num_nodes, depth", [(0, 12, 2), (1, 60, 4), (2, 200, 6), (3, 180, 6)])
def test_matches_definition_on_random_trees(seed, num_nodes, depth, device):
    rng = np.random.default_rng(seed)
    tree = LabelTree.from_paths(random_tree_paths(rng, num_nodes, depth))
    assert len(tree) >= num_nodes // 2 and tree.max_depth <= depth
    logits = torch.randn(2, len(tree), 3, 4, 5) * 8
    softmax = TreeSoftmax(tree).to(device)
    expected = reference_tree_softmax(logits, tree)
    probabilities = softmax(logits.to(device)).cpu().double()
    assert torch.allclose(probabilities, expected, atol=1e-6)
    log_softmax = TreeSoftmax(tree, log=True).to(device)
    log_p = log_softmax(logits.to(device)).cpu().double()
    assert torch.allclose(log_p.exp(), expected, atol=1e-6)
    assert torch.isfinite(log_p).all()
    # Leaves of a tree softmax always sum to one; each internal node equals its children's sum.
    leaves = torch.as_tensor(tree.leaves)
    assert torch.allclose(probabilities.index_select(1, leaves).sum(1), torch.ones(1, dtype=torch.float64), atol=1e-5)
    for node in range(len(tree)):
        children = list(tree.children(node))
        if children:
            assert torch.allclose(probabilities[:, children].sum(1), probabilities[:, node], atol=1e-5)
    assert torch.equal(argmax_leaves(probabilities, leaves), expected.index_select(1, leaves).argmax(1))


def test_extreme_logits_stay_finite(salt_tree):
    logits = torch.randn(1, len(salt_tree), 2, 2, 2) * 1000  # per-group max subtraction needed
    p = TreeSoftmax(salt_tree)(logits)
    assert torch.isfinite(p).all()
    assert torch.allclose(p, reference_tree_softmax(logits, salt_tree).float(), atol=1e-6)


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
