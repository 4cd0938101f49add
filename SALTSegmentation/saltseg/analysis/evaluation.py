"""SALT's hierarchical evaluation: Dice and NSD per tree node, at the depth the truth annotates.

A truth label map names its labels (see :mod:`.label_names`); each label stands for a tree node,
a leaf (``kidney_left``) or an internal node (``kidneys`` when a dataset has no sides, ``bones``).
A node is scored when the truth annotates it: it is a truth label's node, or all of its children
are annotated (then its truth is the union of theirs). The prediction at a node is the union of
its subtree. So one model is scored on datasets labelled at different depths of the tree.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Mapping, Optional, Sequence

import numpy as np
import SimpleITK as sitk

from ..tree.labeltree import LabelTree
from .grids import on_grid_of
from .surface_distance import dice, surface_dice

logger = logging.getLogger(__name__)

SCORE_COLUMNS = ("case", "node", "name", "depth", "dice", "nsd", "truth_voxels", "predicted_voxels")
DEFAULT_TOLERANCE_MM = 2.0


@dataclass(frozen=True)
class NodeScore:
    case: str
    node: str
    name: str
    depth: int
    dice: float  # NaN when neither truth nor prediction has a voxel of the node
    nsd: float
    truth_voxels: int
    predicted_voxels: int

    def to_row(self) -> dict[str, str]:
        def number(value: float) -> str:
            return "" if math.isnan(value) else f"{value:.4f}"

        return {"case": self.case, "node": self.node, "name": self.name, "depth": str(self.depth),
                "dice": number(self.dice), "nsd": number(self.nsd), "truth_voxels": str(self.truth_voxels),
                "predicted_voxels": str(self.predicted_voxels)}


def annotated_nodes(tree: LabelTree, truth_nodes: Sequence[int]) -> list[int]:
    """Nodes the truth annotates: its labels' nodes, and (bottom-up) every node all of whose
    children are annotated. A node below a truth label (``kidney_left`` when the truth only says
    ``kidneys``) is not annotated; neither is the background leaf."""
    labelled = set(int(n) for n in truth_nodes)
    annotated = set(labelled)
    for node in reversed(tree.topological_order()):
        children = tree.children(node)
        if children and all(child in annotated for child in children):
            annotated.add(node)
    scored = []
    for node in sorted(annotated):
        if any(ancestor in labelled for ancestor in tree.ancestors(node)):
            continue  # the truth's voxels of this node hide in an ancestor's label
        if node == tree.background_leaf:
            continue
        scored.append(node)
    return scored


def _lookup(label_nodes: Mapping[int, int], top: int, members: set[int]) -> np.ndarray:
    table = np.zeros(top + 1, dtype=bool)
    for value, node in label_nodes.items():
        if 0 <= value <= top and node in members:
            table[value] = True
    return table


def evaluate_case(case: str, prediction: sitk.Image, prediction_nodes: Mapping[int, int],
                  truth: sitk.Image, truth_nodes: Mapping[int, int], tree: LabelTree,
                  tolerance_mm: float = DEFAULT_TOLERANCE_MM) -> list[NodeScore]:
    """Scores of one case on the truth's grid (the prediction is resampled onto it if needed; one
    elsewhere in space is refused)."""
    prediction = on_grid_of(prediction, truth, "the prediction", "the truth", context=case)
    predicted = sitk.GetArrayViewFromImage(prediction)
    truth_array = sitk.GetArrayViewFromImage(truth)
    spacing = tuple(reversed(truth.GetSpacing()))  # numpy axis order (z, y, x)
    top_p, top_t = int(predicted.max()), int(truth_array.max())
    scores = []
    for node in annotated_nodes(tree, list(truth_nodes.values())):
        members = set(tree.subtree(node))
        predicted_mask = _lookup(prediction_nodes, top_p, members)[predicted]
        truth_mask = _lookup(truth_nodes, top_t, members)[truth_array]
        scores.append(NodeScore(case, tree.node_id(node), tree.display_name(node), tree.depth(node),
                                dice(predicted_mask, truth_mask),
                                surface_dice(predicted_mask, truth_mask, spacing, tolerance_mm),
                                int(np.count_nonzero(truth_mask)), int(np.count_nonzero(predicted_mask))))
    logger.info("case %s: %d nodes scored", case, len(scores))
    return scores


@dataclass(frozen=True)
class SummaryRow:
    level: str  # "node" or "depth"
    key: str  # the node's tree path, or the depth
    name: str
    cases: int  # scores that count (both-empty cases are left out)
    mean_dice: float
    mean_nsd: float

    def to_row(self) -> dict[str, str]:
        def number(value: float) -> str:
            return "" if math.isnan(value) else f"{value:.4f}"

        return {"level": self.level, "key": self.key, "name": self.name, "cases": str(self.cases),
                "mean_dice": number(self.mean_dice), "mean_nsd": number(self.mean_nsd)}


SUMMARY_COLUMNS = ("level", "key", "name", "cases", "mean_dice", "mean_nsd")


def _mean(values: list[float]) -> float:
    kept = [v for v in values if not math.isnan(v)]
    return sum(kept) / len(kept) if kept else float("nan")


def summarize_scores(scores: Sequence[NodeScore], tree: Optional[LabelTree] = None) -> list[SummaryRow]:
    """Mean Dice and NSD per node (over cases), then per depth (over every node-case score)."""
    by_node: dict[str, list[NodeScore]] = {}
    by_depth: dict[int, list[NodeScore]] = {}
    for score in scores:
        by_node.setdefault(score.node, []).append(score)
        by_depth.setdefault(score.depth, []).append(score)
    order = (lambda key: tree.index(key)) if tree is not None else (lambda key: key)
    rows = []
    for node in sorted(by_node, key=order):
        group = by_node[node]
        rows.append(SummaryRow("node", node, group[0].name, sum(1 for s in group if not math.isnan(s.dice)),
                               _mean([s.dice for s in group]), _mean([s.nsd for s in group])))
    for depth in sorted(by_depth):
        group = by_depth[depth]
        rows.append(SummaryRow("depth", str(depth), f"depth {depth}", sum(1 for s in group if not math.isnan(s.dice)),
                               _mean([s.dice for s in group]), _mean([s.nsd for s in group])))
    return rows
