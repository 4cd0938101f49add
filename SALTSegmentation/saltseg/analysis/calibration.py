"""Calibration of probability maps against a truth, per tree node: reliability tables and ECE.

A node's map says, per voxel, how probable the node is; its truth is the union of the truth labels
inside its subtree (the node must be annotated by the truth, as for Dice: see
:func:`~.evaluation.annotated_nodes`). The voxels of every case are pooled per node into equal-width
probability bins; per bin the mean predicted probability and the observed fraction of truth
voxels. The expected calibration error is ``Σ_b (n_b / N) · |observed_b − predicted_b|``: 0 for a
perfectly calibrated map. Every voxel of the truth's grid counts, so a whole scan's confidently
empty background fills the lowest bin; the table shows where the rest lies.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Optional

import numpy as np
import SimpleITK as sitk

from ..outputs.probability_maps import output_stem
from ..tree.labeltree import LabelTree
from .evaluation import annotated_nodes
from .probability_images import probability_on_grid, read_probability_map

logger = logging.getLogger(__name__)

DEFAULT_BINS = 10
CALIBRATION_COLUMNS = ("node", "name", "cases", "voxels", "ece")
RELIABILITY_COLUMNS = ("node", "name", "bin", "lower", "upper", "voxels", "mean_probability", "observed_fraction")
_MAP_ENDINGS = (".nii.gz", ".nii", ".nrrd", ".mha")


@dataclass
class NodeCalibration:
    """One node's pooled bins: voxels, summed predicted probability, truth voxels."""

    bins: int
    cases: int = 0
    voxels: np.ndarray = field(init=False)
    probability_sums: np.ndarray = field(init=False)
    positives: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.voxels = np.zeros(self.bins, dtype=np.int64)
        self.probability_sums = np.zeros(self.bins, dtype=np.float64)
        self.positives = np.zeros(self.bins, dtype=np.int64)

    def add(self, probabilities: np.ndarray, truth: np.ndarray) -> None:
        flat = np.clip(np.asarray(probabilities, dtype=np.float64).ravel(), 0.0, 1.0)
        which = np.minimum((flat * self.bins).astype(np.int64), self.bins - 1)
        self.voxels += np.bincount(which, minlength=self.bins)
        self.probability_sums += np.bincount(which, weights=flat, minlength=self.bins)
        self.positives += np.bincount(which[np.asarray(truth, dtype=bool).ravel()], minlength=self.bins)
        self.cases += 1

    @property
    def ece(self) -> float:
        total = int(self.voxels.sum())
        if total == 0:
            return math.nan
        filled = self.voxels > 0
        voxels = self.voxels[filled]
        gaps = np.abs(self.positives[filled] / voxels - self.probability_sums[filled] / voxels)
        return float((voxels * gaps).sum() / total)


@dataclass
class CalibrationTable:
    """Calibration of every node that has a map and a truth, pooled over cases."""

    tree: LabelTree
    bins: int = DEFAULT_BINS
    nodes: dict[int, NodeCalibration] = field(default_factory=dict)

    def add_case(self, case: str, maps: Mapping[int, sitk.Image], truth: sitk.Image,
                 truth_nodes: Mapping[int, int]) -> list[int]:
        """Add one case's maps (node → 0–1 image, put on the truth's grid); returns the nodes scored.
        A map of a node the truth does not annotate is left out (logged)."""
        truth_array = sitk.GetArrayViewFromImage(truth)
        top = int(truth_array.max()) if truth_array.size else 0
        annotated = set(annotated_nodes(self.tree, list(truth_nodes.values())))
        scored = []
        for node, image in sorted(maps.items()):
            if node not in annotated:
                logger.info("%s: the truth does not annotate %s; its map is not scored", case, self.tree.node_id(node))
                continue
            members = set(self.tree.subtree(node))
            lookup = np.zeros(top + 1, dtype=bool)
            for value, labelled in truth_nodes.items():
                if 0 <= value <= top and labelled in members:
                    lookup[value] = True
            probability = probability_on_grid(image, truth, f"the map of {self.tree.node_id(node)}", "the truth", case)
            self.nodes.setdefault(node, NodeCalibration(self.bins)).add(
                sitk.GetArrayViewFromImage(probability), lookup[truth_array])
            scored.append(node)
        return scored

    def summary_rows(self) -> list[dict[str, str]]:
        rows = []
        for node, calibration in sorted(self.nodes.items()):
            ece = calibration.ece
            rows.append({"node": self.tree.node_id(node), "name": self.tree.display_name(node),
                         "cases": str(calibration.cases), "voxels": str(int(calibration.voxels.sum())),
                         "ece": "" if math.isnan(ece) else f"{ece:.5f}"})
        return rows

    def reliability_rows(self) -> list[dict[str, str]]:
        rows = []
        for node, calibration in sorted(self.nodes.items()):
            for b in range(self.bins):
                count = int(calibration.voxels[b])
                rows.append({
                    "node": self.tree.node_id(node), "name": self.tree.display_name(node), "bin": str(b),
                    "lower": f"{b / self.bins:.3f}", "upper": f"{(b + 1) / self.bins:.3f}", "voxels": str(count),
                    "mean_probability": f"{calibration.probability_sums[b] / count:.5f}" if count else "",
                    "observed_fraction": f"{calibration.positives[b] / count:.5f}" if count else ""})
        return rows


def maps_beside(prediction: Path, tree: LabelTree) -> dict[int, Path]:
    """The probability maps written beside ``prediction`` (``<name>.prob.<node>.nii.gz``/``.nrrd``),
    by node; files whose node is not in ``tree`` are logged and left out."""
    prefix = f"{output_stem(prediction)}.prob."
    by_name = {tree.node_id(node).replace(",", "-"): node for node in range(len(tree))}
    found: dict[int, Path] = {}
    for path in sorted(Path(prediction).parent.glob(f"{prefix}*")):
        ending = next((e for e in _MAP_ENDINGS if path.name.lower().endswith(e)), None)
        if ending is None or not path.is_file():
            continue
        name = path.name[len(prefix): -len(ending)]
        node = by_name.get(name)
        if node is None:
            logger.warning("%s names no node of the label tree; not scored", path.name)
            continue
        found.setdefault(node, path)
    return found


def read_maps(paths: Mapping[int, Path]) -> dict[int, sitk.Image]:
    return {node: read_probability_map(path) for node, path in paths.items()}


def calibration_document(table: Optional[CalibrationTable]) -> list[dict]:
    """The JSON report's ``calibration`` list: per node its summary and bins."""
    if table is None:
        return []
    bins: dict[str, list[dict[str, str]]] = {}
    for row in table.reliability_rows():
        bins.setdefault(row["node"], []).append({k: v for k, v in row.items() if k not in ("node", "name")})
    return [{**row, "bins": bins.get(row["node"], [])} for row in table.summary_rows()]
