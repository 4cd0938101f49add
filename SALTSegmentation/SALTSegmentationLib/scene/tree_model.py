"""What the tree panel shows and does, without Qt or MRML, so pytest can check it.

The panel lists the label-tree nodes that have at least one segment at or below them. A node's
check state follows its segments (all shown / none / mixed); checking a node shows its whole
subtree; volumes are summed up the tree; search keeps matches and their ancestors.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Iterable, Optional

from saltseg.tree.colors import node_colors
from saltseg.tree.labeltree import LabelTree


class CheckState(enum.IntEnum):
    # Same numbers as Qt.CheckState, so the widget can pass them straight through.
    UNCHECKED = 0
    PARTIAL = 1
    CHECKED = 2


@dataclass(frozen=True)
class SegmentInfo:
    segment_id: str
    path: tuple[str, ...]  # tree path of the node the segment stands for (leaf or merged subtree)
    visible: bool
    volume_ml: float = 0.0


class TreePanelModel:
    def __init__(self, tree: LabelTree, segments: Iterable[SegmentInfo],
                 mean_hu: Optional[dict[str, float]] = None) -> None:
        self.tree = tree
        #: Tree path → mean HU of the node (the union of its subtree); None: no CT to measure.
        self._mean_hu = mean_hu
        self._colors = node_colors(tree)
        self._segments: dict[str, SegmentInfo] = {}
        self._node_segments: dict[int, list[str]] = {}  # node → segments in its subtree
        self._own_segment: dict[int, str] = {}  # node → the segment standing for the node itself
        known = self._paths = set(tree.paths)
        for info in segments:
            if info.path not in known:
                continue  # a user-added segment outside the tree stays in the Segments table only
            self._segments[info.segment_id] = info
            node = tree.index(info.path)
            self._own_segment.setdefault(node, info.segment_id)
            for ancestor in (node,) + tree.ancestors(node):
                self._node_segments.setdefault(ancestor, []).append(info.segment_id)

    # ------------------------------------------------------------------ structure
    def shown_nodes(self) -> set[int]:
        return set(self._node_segments)

    def children(self, node: Optional[int]) -> list[int]:
        """Children of ``node`` (None: the top level) that have segments, in tree order."""
        return [c for c in self.tree.children(node) if c in self._node_segments]

    def label(self, node: int) -> str:
        return self.tree.display_name(node)

    def node_id(self, node: int) -> str:
        return self.tree.node_id(node)

    def color(self, node: int) -> tuple[float, float, float]:
        return self._colors[node]

    def segment_for(self, node: int) -> Optional[str]:
        """The segment that is this node (a leaf, or a merged subtree), for "jump to"."""
        return self._own_segment.get(node)

    def segment_ids(self, node: int) -> list[str]:
        return list(self._node_segments.get(node, ()))

    # ------------------------------------------------------------------ state
    def check_state(self, node: int) -> CheckState:
        states = {self._segments[sid].visible for sid in self._node_segments.get(node, ())}
        if states == {True}:
            return CheckState.CHECKED
        if states == {False} or not states:
            return CheckState.UNCHECKED
        return CheckState.PARTIAL

    def set_checked(self, node: int, checked: bool) -> dict[str, bool]:
        """The visibility changes checking/unchecking ``node`` makes (only segments that change);
        the model is updated so ancestors' states follow."""
        changes = {sid: checked for sid in self._node_segments.get(node, ())
                   if self._segments[sid].visible != checked}
        self.apply_visibility(changes)
        return changes

    def only(self, node: int) -> dict[str, bool]:
        """Changes for "show only this subtree"."""
        inside = set(self._node_segments.get(node, ()))
        changes = {sid: sid in inside for sid, info in self._segments.items() if info.visible != (sid in inside)}
        self.apply_visibility(changes)
        return changes

    def apply_visibility(self, visibility: dict[str, bool]) -> None:
        for sid, visible in visibility.items():
            if sid in self._segments:
                info = self._segments[sid]
                self._segments[sid] = SegmentInfo(info.segment_id, info.path, bool(visible), info.volume_ml)

    def has_segment(self, segment_id: str) -> bool:
        return segment_id in self._segments

    def segment_path(self, segment_id: str) -> tuple[str, ...]:
        return self._segments[segment_id].path

    def knows_path(self, path: tuple[str, ...]) -> bool:
        return path in self._paths

    def set_volume(self, segment_id: str, volume_ml: float) -> set[int]:
        """Record a segment's new volume; returns the nodes whose shown volume changed (its node
        and the ancestors), empty when it did not change."""
        info = self._segments[segment_id]
        if info.volume_ml == volume_ml:
            return set()
        self._segments[segment_id] = SegmentInfo(info.segment_id, info.path, info.visible, volume_ml)
        node = self.tree.index(info.path)
        return {node, *self.tree.ancestors(node)}

    def volume_ml(self, node: int) -> float:
        return sum(self._segments[sid].volume_ml for sid in self._node_segments.get(node, ()))

    def mean_hu(self, node: int) -> Optional[float]:
        """Mean CT intensity inside the node (its whole subtree), or None without a CT."""
        return None if self._mean_hu is None else self._mean_hu.get(self.tree.node_id(node))

    @property
    def has_mean_hu(self) -> bool:
        return self._mean_hu is not None

    def set_mean_hu(self, mean_hu: dict[str, float]) -> set[int]:
        """Record newly measured mean HUs (tree path → HU); returns the shown nodes whose value changed."""
        old, self._mean_hu = self._mean_hu or {}, mean_hu
        return {node for node in self._node_segments
                if old.get(self.tree.node_id(node)) != mean_hu.get(self.tree.node_id(node))}

    # ------------------------------------------------------------------ search
    def matching_nodes(self, text: str) -> set[int]:
        """Nodes to show for a search: matches (name or path, case-insensitive), their ancestors
        so the match can be reached, and their descendants so a matched group stays browsable."""
        needle = text.strip().lower()
        if not needle:
            return self.shown_nodes()
        result: set[int] = set()
        for node in self._node_segments:
            if needle in self.label(node).lower() or needle in self.node_id(node).lower():
                result.add(node)
                result.update(self.tree.ancestors(node))
                result.update(n for n in self.tree.subtree(node) if n in self._node_segments)
        return result
