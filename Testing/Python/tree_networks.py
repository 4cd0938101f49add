"""Small random networks ending in SALT's tree softmax, for window-placement tests."""
from __future__ import annotations

import torch

from saltseg.tree.labeltree import LabelTree
from saltseg.tree.tree_softmax import TreeSoftmax


def random_tree_network(tree: LabelTree, seed: int = 0) -> torch.nn.Module:
    """A seeded random two-layer network whose labels depend strongly on each window's content,
    so that any difference in window placement shows in the labels."""
    torch.manual_seed(seed)
    network = torch.nn.Sequential(
        torch.nn.Conv3d(1, 6, 3, padding=1), torch.nn.Tanh(), torch.nn.Conv3d(6, len(tree), 3, padding=1),
        TreeSoftmax(tree),
    ).eval()
    with torch.no_grad():
        network[0].weight.mul_(8.0)
    return network
