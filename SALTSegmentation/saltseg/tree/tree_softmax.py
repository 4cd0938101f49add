"""Tree softmax: conditional softmax per sibling group, multiplied down each path.

For node ``n`` with sibling group ``G(n)`` and ancestors ``a_1 … a_k``::

    p(n | parent) = exp(x_n) / Σ_{m ∈ G(n)} exp(x_m)
    P(n)          = p(n | parent) · Π_i p(a_i | parent(a_i))

The forward pass has no Python loop over nodes: group maxima and sums use ``scatter_reduce`` /
``index_add`` over a node→group index, and the path product is a sum of log-probabilities
gathered one tree level at a time (depth ≤ 6 in practice), in place. The
module traces and scripts, so it can be exported inside ``model.pt`` like SALT's own.
"""

from typing import List, Union

import numpy as np
import torch
from torch import nn

from .labeltree import LabelTree


def _as_tree(tree_or_adjacency: Union[LabelTree, np.ndarray]) -> LabelTree:
    if isinstance(tree_or_adjacency, LabelTree):
        return tree_or_adjacency
    matrix = np.asarray(tree_or_adjacency)
    names = _synthetic_names(matrix)
    return LabelTree.from_config(names, matrix)


def _synthetic_names(matrix: np.ndarray) -> list[tuple[str, ...]]:
    """Paths for an anonymous adjacency matrix, so a bare matrix can build a LabelTree."""
    n = matrix.shape[0] - 1
    parents = [int(np.flatnonzero(matrix[:, i + 1])[0]) - 1 if matrix[:, i + 1].any() else -1
               for i in range(n)]
    names = []
    for i in range(n):
        chain: list[str] = []
        node = i
        while node >= 0 and len(chain) <= n:  # the bound stops on cycles; from_config reports them
            chain.append(f"n{node}")
            node = parents[node]
        names.append(tuple(reversed(chain)))
    return names


class TreeSoftmax(nn.Module):
    """Maps logits ``[B, N, *spatial]`` to propagated node probabilities (or their logs)."""

    level_bounds: List[int]
    # buffers (register_buffer), declared for the type checker
    group_index: torch.Tensor
    level_nodes: torch.Tensor
    level_parents: torch.Tensor

    def __init__(
        self, tree: Union[LabelTree, np.ndarray], dim: int = 1, log: bool = False
    ) -> None:
        super().__init__()
        tree = _as_tree(tree)
        if dim != 1:
            raise ValueError("TreeSoftmax works on the channel dimension (dim=1)")
        self.num_nodes = len(tree)
        self.num_groups = len(tree.sibling_groups)
        self.log = log
        nodes, parents, bounds = _nodes_by_level(tree)
        self.register_buffer("group_index", torch.as_tensor(tree.group_index(), dtype=torch.long))
        self.register_buffer("level_nodes", torch.as_tensor(nodes, dtype=torch.long))
        self.register_buffer("level_parents", torch.as_tensor(parents, dtype=torch.long))
        self.level_bounds = bounds

    def log_conditional(self, logits: torch.Tensor) -> torch.Tensor:
        """log p(node | parent) for every node (a new tensor; ``logits`` is not modified)."""
        x = logits.float()
        shape = [x.shape[0], self.num_groups] + list(x.shape[2:])
        index = self.group_index.view([1, -1] + [1] * (x.dim() - 2)).expand_as(x)
        group_max = torch.full(shape, float("-inf"), dtype=x.dtype, device=x.device)
        group_max = group_max.scatter_reduce(1, index, x, reduce="amax", include_self=True)
        result = x - group_max.index_select(1, self.group_index)
        group_sum = torch.zeros(shape, dtype=x.dtype, device=x.device)
        group_sum.index_add_(1, self.group_index, torch.exp(result))
        result.sub_(torch.log(group_sum).index_select(1, self.group_index))
        return result

    def log_probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        """log P(node): conditional log-probabilities summed along the path.

        Nodes are processed one tree level at a time (parents before children), so each level
        adds its parents' finished path sums in place: one gather per level, O(N) in total.
        """
        result = self.log_conditional(logits)
        for level in range(len(self.level_bounds) - 1):
            start, stop = self.level_bounds[level], self.level_bounds[level + 1]
            parents = self.level_parents[start:stop]
            result.index_add_(1, self.level_nodes[start:stop], result.index_select(1, parents))
        return result

    def forward(self, logits: torch.Tensor) -> torch.Tensor:
        log_p = self.log_probabilities(logits)
        return log_p if self.log else torch.exp(log_p)


def _nodes_by_level(tree: LabelTree) -> tuple[list[int], list[int], list[int]]:
    """Nodes below the top level sorted by depth, their parents, and the level boundaries."""
    by_depth: dict[int, list[int]] = {}
    for node in range(len(tree)):
        if tree.parent(node) is not None:
            by_depth.setdefault(tree.depth(node), []).append(node)
    nodes: list[int] = []
    bounds = [0]
    for depth in sorted(by_depth):
        nodes.extend(by_depth[depth])
        bounds.append(len(nodes))
    parents = [int(tree.parent(node)) for node in nodes]  # type: ignore[arg-type]
    return nodes, parents, bounds


def argmax_leaves(probabilities: torch.Tensor, leaves: torch.Tensor) -> torch.Tensor:
    """SALT's label value per voxel: the index of the most probable leaf in the leaf list.

    Works on probabilities or log-probabilities alike (log is monotonic).
    """
    return probabilities.index_select(1, leaves).argmax(dim=1)


def reference_tree_softmax(logits: torch.Tensor, tree: LabelTree) -> torch.Tensor:
    """The textbook definition, one sibling group and one node at a time (slow).

    Kept for verification and for the benchmark that compares it with :class:`TreeSoftmax`.
    """
    x = logits.double()
    conditional = torch.empty_like(x)
    for group in tree.sibling_groups:
        members = list(group)
        conditional[:, members] = torch.softmax(x[:, members], dim=1)
    result = torch.empty_like(x)
    for node in tree.topological_order():
        parent = tree.parent(node)
        result[:, node] = conditional[:, node] * (1.0 if parent is None else result[:, parent])
    return result
