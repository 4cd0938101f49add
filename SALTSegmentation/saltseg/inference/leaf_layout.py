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

import torch

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
    """Node rows, slab channels and the path products' structure for one label tree."""

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

        # Path products of internal nodes. Slots are numbered by depth, so each level is one
        # contiguous run of slots computed from the levels before it; slot ``num_internal`` is the
        # virtual root (it carries the blending weight).
        internal = sorted((node for node in tree.topological_order() if node not in leaf_set), key=tree.depth)
        slot = {node: i for i, node in enumerate(internal)}
        self.num_internal = len(internal)

        def parent_slot(node: int) -> int:
            parent = tree.parent(node)
            return slot[parent] if parent is not None else self.num_internal

        #: Per internal slot: its node's row and its group.
        self.internal_rows: list[int] = [row[node] for node in internal]
        self.internal_groups: list[int] = [group_of[node] for node in internal]
        #: Per depth: (first slot, end slot, parent slot of each).
        self.levels: list[tuple[int, int, list[int]]] = []
        for depth in sorted({tree.depth(node) for node in internal}):
            slots = [slot[node] for node in internal if tree.depth(node) == depth]
            self.levels.append((slots[0], slots[-1] + 1, [parent_slot(internal[s]) for s in slots]))
        #: Per group: the slot of the members' common parent.
        self.group_parents: list[int] = [parent_slot(group[0]) for group in groups]

    def tensors(self, device: torch.device) -> "LayoutTensors":
        return LayoutTensors(self, device)


class LayoutTensors:
    """The layout's index lists as tensors on one device."""

    def __init__(self, layout: LeafLayout, device: torch.device) -> None:
        def as_tensor(values: list[int]) -> torch.Tensor:
            return torch.as_tensor(values, dtype=torch.long, device=device)

        self.node_order = as_tensor(layout.node_order)
        self.group_parents = as_tensor(layout.group_parents)
        self.internal_rows = as_tensor(layout.internal_rows)
        self.internal_groups = as_tensor(layout.internal_groups)
        self.levels = [(first, end, as_tensor(parents)) for first, end, parents in layout.levels]
