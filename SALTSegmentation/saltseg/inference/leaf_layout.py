"""Where each tree node and each leaf sits while windows are reduced to leaf probabilities.

The tree softmax is fastest when every sibling group is a contiguous run of rows and groups of
the same shape form one ``[count, size, V]`` block: one exp, one sum and one multiply per block
instead of per group, and no gathers. So the engine works in *layout order*:

* node rows: groups sorted by (size, number of leaf members), leaves first inside each group;
* slab channels: the leaves in that same order, so the leaves of a block are one contiguous run
  of slab channels and are added with a single broadcast multiply-add.

The slab's channel order therefore differs from the label order (``tree.leaves``);
:attr:`LeafLayout.label_channels` maps back. The argmax that turns the slab into labels is taken
in label order, so ties break exactly as in SALT (first leaf in label order wins).
"""
from __future__ import annotations

from dataclasses import dataclass

from ..tree.labeltree import LabelTree


@dataclass(frozen=True)
class Block:
    """``count`` sibling groups of ``size`` members each, ``leaves`` of which are leaves (first)."""

    first_row: int  # in node rows
    first_group: int
    first_channel: int  # in slab channels
    count: int
    size: int
    leaves: int


class LeafLayout:
    """Node rows, slab channels and each group's parent (for the path products) of one label tree."""

    def __init__(self, tree: LabelTree) -> None:
        leaf_set = set(tree.leaves)

        def shape(group: tuple[int, ...]) -> tuple[int, int]:
            return len(group), sum(1 for node in group if node in leaf_set)

        groups = [sorted(group, key=lambda node: node not in leaf_set)  # leaves first (stable)
                  for group in sorted(tree.sibling_groups, key=shape)]
        self.node_order: list[int] = [node for group in groups for node in group]
        row = {node: i for i, node in enumerate(self.node_order)}
        group_of = {node: k for k, group in enumerate(groups) for node in group}
        self.blocks: list[Block] = []
        first_row = first_group = first_channel = 0
        for size, leaves in sorted({shape(tuple(group)) for group in groups}):
            count = sum(1 for group in groups if shape(tuple(group)) == (size, leaves))
            self.blocks.append(Block(first_row, first_group, first_channel, count, size, leaves))
            first_row += count * size
            first_group += count
            first_channel += count * leaves
        self.num_groups = len(groups)
        #: Slab channel → node id.
        self.slab_nodes: list[int] = [node for group in groups for node in group if node in leaf_set]
        #: Label value (position in ``tree.leaves``) → slab channel.
        channel_of = {node: channel for channel, node in enumerate(self.slab_nodes)}
        self.label_channels: list[int] = [channel_of[node] for node in tree.leaves]

        # Each group's factor, weight · path(parent) / Σ_group, follows from its parent's group:
        # path(parent) = factor(parent's group) · exp(parent's logit). So groups are listed parents
        # first, each with its parent's group and row (group -1: the root's, whose path is the weight).
        def chain_link(group: list[int]) -> tuple[int, int, int]:
            parent = tree.parent(group[0])
            if parent is None:
                return group_of[group[0]], -1, -1
            return group_of[group[0]], group_of[parent], row[parent]

        #: Per group, parents first: (group, parent's group or -1, parent's row or -1).
        self.group_chain: list[tuple[int, int, int]] = [
            chain_link(group) for group in sorted(groups, key=lambda group: tree.depth(group[0]))]
