"""Colours for tree nodes: siblings distinguishable, subtrees recognisable.

Every subtree owns a hue sector sized by its number of leaves, so a whole subtree (all ribs, all
lung lobes) shares a recognisable family of hues. Inside a sector, siblings are spread over at
least :data:`MIN_SIBLING_SPREAD` of the hue circle and alternate in lightness, so that even twelve
ribs stay apart from their neighbours.
"""
from __future__ import annotations

import colorsys
from typing import Optional, Protocol, Sequence

RGB = tuple[float, float, float]


class TreeShape(Protocol):
    """What colouring needs of a tree (a :class:`~saltseg.tree.labeltree.LabelTree` has it)."""

    @property
    def background_value(self) -> Optional[int]: ...

    def __len__(self) -> int: ...

    def children(self, node: Optional[int]) -> tuple[int, ...]: ...

    def topological_order(self) -> Sequence[int]: ...

    def leaf_for_value(self, value: int) -> int: ...

MIN_SIBLING_SPREAD = 0.16
_LIGHTNESS_CYCLE = (0.50, 0.68, 0.36, 0.60, 0.44, 0.74)
_BACKGROUND_RGB: RGB = (0.0, 0.0, 0.0)


def node_colors(tree: TreeShape) -> list[RGB]:
    """An RGB triple in [0, 1] for every node, in channel order."""
    leaf_count = [0] * len(tree)
    for node in reversed(tree.topological_order()):
        children = tree.children(node)
        leaf_count[node] = 1 if not children else sum(leaf_count[c] for c in children)

    hue_center = [0.0] * len(tree)
    colors: list[RGB] = [_BACKGROUND_RGB] * len(tree)

    def spread(group: tuple[int, ...], lo: float, hi: float, depth: int) -> None:
        center = (lo + hi) / 2.0
        width = max(hi - lo, MIN_SIBLING_SPREAD)
        lo, hi = center - width / 2.0, center + width / 2.0
        total = sum(leaf_count[c] for c in group)
        start = lo
        for position, node in enumerate(group):
            end = start + (hi - lo) * leaf_count[node] / total
            hue_center[node] = ((start + end) / 2.0) % 1.0
            lightness = _LIGHTNESS_CYCLE[(position + depth) % len(_LIGHTNESS_CYCLE)]
            saturation = 0.75 if position % 2 == 0 else 0.55
            colors[node] = colorsys.hls_to_rgb(hue_center[node], lightness, saturation)
            if tree.children(node):
                spread(tree.children(node), start, end, depth + 1)
            start = end

    spread(tree.children(None), 0.0, 1.0, 0)
    background = tree.background_value
    if background is not None:
        colors[tree.leaf_for_value(background)] = _BACKGROUND_RGB
    return colors


def to_rgb255(color: RGB) -> tuple[int, int, int]:
    return tuple(int(round(c * 255)) for c in color)  # type: ignore[return-value]
