"""What the tree panel shows and does, without Qt or MRML, so pytest can check it.

The panel lists the label-tree nodes that have at least one segment at or below them. A node's
check state follows its segments (all shown / none / mixed); checking a node shows its whole
subtree; volumes are summed up the tree, and a node's mean HU is its segments' intensity sum over
their voxels; search keeps matches and their ancestors.
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
    voxels: int = 0  # on the CT's grid, when the CT's intensities were measured
    hu_sum: Optional[float] = None  # the CT's intensities summed over the segment; None: no CT

    def measured(self, volume_ml: float, voxels: int, hu_sum: Optional[float]) -> "SegmentInfo":
        return SegmentInfo(self.segment_id, self.path, self.visible, volume_ml, voxels, hu_sum)


class TreePanelModel:
    def __init__(self, tree: LabelTree, segments: Iterable[SegmentInfo], with_mean_hu: bool = False) -> None:
        self.tree = tree
        #: Whether the segments carry CT intensity sums (a CT was measured): the Mean HU column.
        self._with_mean_hu = with_mean_hu
        #: Segment → (voxels, sum of their confidence 0–1): with a confidence map, the Sure % column.
        self._confidence: dict[str, tuple[int, float]] = {}
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
                self._segments[sid] = SegmentInfo(info.segment_id, info.path, bool(visible), info.volume_ml,
                                                  info.voxels, info.hu_sum)

    def has_segment(self, segment_id: str) -> bool:
        return segment_id in self._segments

    def segment_paths(self) -> dict[str, tuple[str, ...]]:
        """Segment ID → tree path of every segment the panel shows."""
        return {sid: info.path for sid, info in self._segments.items()}

    def segment_path(self, segment_id: str) -> tuple[str, ...]:
        return self._segments[segment_id].path

    def knows_path(self, path: tuple[str, ...]) -> bool:
        return path in self._paths

    def set_measurement(self, segment_id: str, volume_ml: float, voxels: int = 0,
                        hu_sum: Optional[float] = None) -> set[int]:
        """Record a segment's new measurement; returns the nodes whose shown numbers changed (its
        node and the ancestors), empty when nothing changed."""
        info = self._segments[segment_id]
        if (info.volume_ml, info.voxels, info.hu_sum) == (volume_ml, voxels, hu_sum):
            return set()
        self._segments[segment_id] = info.measured(volume_ml, voxels, hu_sum)
        node = self.tree.index(info.path)
        return {node, *self.tree.ancestors(node)}

    def volume_ml(self, node: int) -> float:
        return sum(self._segments[sid].volume_ml for sid in self._node_segments.get(node, ()))

    def mean_hu(self, node: int) -> Optional[float]:
        """Mean CT intensity inside the node (its whole subtree), or None without a CT or voxels."""
        if not self._with_mean_hu:
            return None
        infos = [self._segments[sid] for sid in self._node_segments.get(node, ())]
        voxels = sum(info.voxels for info in infos)
        if not voxels or any(info.voxels and info.hu_sum is None for info in infos):
            return None  # no intensities measured (a CT that is not one scalar per voxel): blank, not 0
        return sum(info.hu_sum or 0.0 for info in infos) / voxels

    @property
    def has_mean_hu(self) -> bool:
        return self._with_mean_hu

    def set_confidence(self, segment_id: str, voxels: int, total: float) -> set[int]:
        """Record a segment's voxels and confidence sum (:mod:`..scene.sure_tally`); returns the
        nodes whose *Sure %* changed (its node and the ancestors), empty when nothing changed."""
        if segment_id not in self._segments or self._confidence.get(segment_id) == (voxels, total):
            return set()
        self._confidence[segment_id] = (voxels, total)
        node = self.tree.index(self._segments[segment_id].path)
        return {node, *self.tree.ancestors(node)}

    @property
    def has_sure(self) -> bool:
        """Whether the segmentation's confidence was measured (the Sure % column is shown)."""
        return bool(self._confidence)

    def sure_percent(self, node: int) -> Optional[float]:
        """Mean confidence over the node's voxels (its whole subtree), in percent; None without a
        confidence map or voxels."""
        counted = [self._confidence[sid] for sid in self._node_segments.get(node, ()) if sid in self._confidence]
        voxels = sum(count for count, _ in counted)
        if not voxels:
            return None
        return 100.0 * sum(total for _, total in counted) / voxels

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
