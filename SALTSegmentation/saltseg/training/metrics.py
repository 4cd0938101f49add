"""Dice per tree node from a leaf prediction and a node-annotated truth, and left/right checks.

Both go through one confusion matrix ``C[annotated node, predicted leaf]``, so Dice of every node
(leaf or internal: the union of its leaves) costs one ``bincount`` per case. Voxels annotated with
an internal node are left out of the Dice of the nodes below it (their truth is unknown there).
"""
from __future__ import annotations

from typing import Iterable, Optional

import numpy as np

from ..tree.labeltree import LabelTree
from .loss import node_relations


def confusion(tree: LabelTree, target_nodes: np.ndarray, predicted_values: np.ndarray) -> np.ndarray:
    """``[N, L]`` voxel counts: annotated node × predicted label value (ignored targets < 0 skipped)."""
    t = target_nodes.reshape(-1).astype(np.int64)
    p = predicted_values.reshape(-1).astype(np.int64)
    keep = t >= 0
    n, leaves = len(tree), len(tree.leaves)
    return np.bincount(t[keep] * leaves + p[keep], minlength=n * leaves).reshape(n, leaves)


def node_dice(tree: LabelTree, counts: np.ndarray) -> dict[str, float]:
    """Dice of every node present in the truth or the prediction, keyed by node id."""
    positive, known = node_relations(tree)
    leaf_nodes = np.asarray(tree.leaves)
    pred_in = positive[leaf_nodes]  # [L, N]: predicted leaf l lies in node n
    result = {}
    for node in range(len(tree)):
        rows = known[:, node]  # annotations for which node membership is known
        c = counts[rows]
        truth = c[positive[rows, node]].sum()
        predicted = c[:, pred_in[:, node]].sum()
        inter = c[positive[rows, node]][:, pred_in[:, node]].sum()
        if truth + predicted > 0:
            result[tree.node_id(node)] = float(2 * inter / (truth + predicted))
    return result


def leaf_values_to_nodes(tree: LabelTree, values: np.ndarray) -> np.ndarray:
    """Label values (positions in the leaf list) → node indices."""
    return np.asarray(tree.leaves, dtype=np.int16)[values]


def structure_leaf_ids(tree: LabelTree) -> set[str]:
    """Node ids of the leaves that are structures: every leaf but the background, whose near-perfect
    Dice would lift any mean over structures."""
    return {tree.node_id(leaf) for leaf in tree.leaves if leaf != tree.background_leaf}


def mean_leaf_dice(tree: LabelTree, dice: dict[str, float], present: Optional[Iterable[str]] = None) -> float:
    """Mean Dice over the structure leaves present in the truth (``present``), or all scored."""
    leaf_ids = structure_leaf_ids(tree)
    keys = [k for k in (present if present is not None else dice) if k in leaf_ids]
    return float(np.mean([dice.get(k, 0.0) for k in keys])) if keys else float("nan")


def left_right_confusions(tree: LabelTree, counts: np.ndarray, pairs: Iterable[tuple[str, str]],
                          threshold: float = 0.01) -> list[dict]:
    """Per left/right leaf pair and direction: voxels annotated one side and predicted the other.

    ``confused`` is set when they exceed ``threshold`` of the side's annotated voxels (a few
    boundary voxels where the two sides touch are not a side swap)."""
    by_name = {tree.path(leaf)[-1]: leaf for leaf in tree.leaves}
    report = []
    for left, right in pairs:
        if left not in by_name or right not in by_name:
            continue
        for truth, wrong in ((left, right), (right, left)):
            t, w = by_name[truth], by_name[wrong]
            total = int(counts[t].sum())
            swapped = int(counts[t, tree.label_value(w)])
            report.append({"truth": truth, "predicted": wrong, "voxels": swapped, "of": total,
                           "confused": bool(total and swapped > threshold * total)})
    return report
