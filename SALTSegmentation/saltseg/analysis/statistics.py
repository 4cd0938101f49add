"""Statistics of every tree node: voxels, volume and CT intensities inside it.

An internal node is the union of its subtree, and its statistics are those of the union (the
median of the whole spine, not an average of the vertebrae's medians). The voxels are visited once
for all nodes: per label a histogram of the (integer) intensities, then the histograms are summed up
the tree (see :mod:`.histograms`). Non-integer intensities fall back to sorting the voxels by label
once, still exact.

Given a confidence map (the chosen leaf's probability, ``--confidence``), two more columns:
``mean_probability``, the mean confidence over the node's voxels, and ``uncertain_ml``, the volume
of the node's voxels whose confidence is below ``uncertain_below`` (:data:`UNCERTAIN_BELOW`).

::

    rows = labelmap_statistics(result.labelmap, ct_image, result.tree)
    write_statistics(rows, "stats.csv")
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Iterable, Mapping, Optional

import numpy as np
import SimpleITK as sitk

from ..errors import InputImageError
from ..tree.labeltree import LabelTree
from . import histograms
from .grids import on_grid_of
from .histograms import IntensitySummary
from .probability_images import probability_on_grid

logger = logging.getLogger(__name__)

#: Intensity columns, in the order the tables write them.
INTENSITY_FIELDS = ("mean_hu", "std_hu", "median_hu", "min_hu", "max_hu", "p5_hu", "p95_hu")
COLUMNS = ("node", "name", "depth", "leaf", "voxels", "volume_ml") + INTENSITY_FIELDS
#: Columns added when a confidence map is given.
CONFIDENCE_FIELDS = ("mean_probability", "uncertain_ml")
#: ``uncertain_ml`` counts voxels whose chosen-leaf probability is below this (the default of
#: ``--uncertain-below``).
UNCERTAIN_BELOW = 0.5
_FOUR_DECIMALS = ("volume_ml",) + CONFIDENCE_FIELDS
UNCERTAIN_HELP = ("with a confidence map, the statistics' uncertain_ml is the volume of each node's voxels whose "
                  "chosen-leaf probability is below this")


@dataclass(frozen=True)
class NodeStatistics:
    node: str  # tree path, comma-joined: the stable key
    name: str
    depth: int
    leaf: bool
    voxels: int
    volume_ml: float
    intensity: Optional[IntensitySummary] = None  # None: empty node, or no CT given
    mean_probability: Optional[float] = None  # None: empty node, or no confidence map given
    uncertain_ml: Optional[float] = None  # None: no confidence map given

    @property
    def mean_hu(self) -> Optional[float]:
        return None if self.intensity is None else self.intensity.mean

    def to_dict(self) -> dict:
        """Plain values (JSON); the intensity fields are None where there is no intensity."""
        s = self.intensity
        values = (None,) * len(INTENSITY_FIELDS) if s is None else (
            s.mean, s.std, s.median, s.minimum, s.maximum, s.p5, s.p95)
        row = {"node": self.node, "name": self.name, "depth": self.depth, "leaf": self.leaf,
               "voxels": self.voxels, "volume_ml": self.volume_ml, **dict(zip(INTENSITY_FIELDS, values))}
        if self.uncertain_ml is not None:  # a confidence map was given
            row.update(mean_probability=self.mean_probability, uncertain_ml=self.uncertain_ml)
        return row

    def to_row(self) -> dict[str, str]:
        """CSV text; empty cells where there is no intensity."""
        row = {}
        for key, value in self.to_dict().items():
            if value is None:
                row[key] = ""
            elif isinstance(value, bool):
                row[key] = "1" if value else "0"
            elif isinstance(value, float):
                row[key] = f"{value:.4f}" if key in _FOUR_DECIMALS else f"{value:.2f}"
            else:
                row[key] = str(value)
        return row

    @classmethod
    def from_row(cls, row: Mapping[str, str]) -> "NodeStatistics":
        intensity = None
        if row.get("mean_hu", ""):
            intensity = IntensitySummary(float(row["mean_hu"]), float(row["std_hu"]), float(row["min_hu"]),
                                         float(row["max_hu"]), float(row["p5_hu"]), float(row["median_hu"]),
                                         float(row["p95_hu"]))
        def optional(key: str) -> Optional[float]:
            return float(row[key]) if row.get(key) else None

        return cls(row["node"], row["name"], int(row["depth"]), row["leaf"] in ("1", "True", "true"),
                   int(row["voxels"]), float(row["volume_ml"]), intensity, optional("mean_probability"),
                   optional("uncertain_ml"))


def statistics_columns(rows: Iterable[NodeStatistics]) -> tuple[str, ...]:
    """The table's columns: :data:`COLUMNS`, and :data:`CONFIDENCE_FIELDS` when a row has them."""
    return COLUMNS + (CONFIDENCE_FIELDS if any(row.uncertain_ml is not None for row in rows) else ())


def _check_labels(labels: np.ndarray) -> int:
    """The largest label value; refuses non-integer and negative labels."""
    if labels.dtype.kind not in "iub":
        raise InputImageError(f"a labelmap must hold integer labels, not {labels.dtype}")
    if labels.size == 0:
        return 0
    if labels.dtype.kind == "i" and int(labels.min()) < 0:
        raise InputImageError("a labelmap must not hold negative labels")
    return int(labels.max())


def _own(per_value: np.ndarray, label_nodes: Mapping[int, int]) -> dict[int, np.ndarray]:
    """Rows of ``per_value`` (indexed by label value) added up per node they stand for."""
    own: dict[int, np.ndarray] = {}
    for value, node in label_nodes.items():
        if 0 <= value < len(per_value):
            own[int(node)] = own[int(node)] + per_value[value] if int(node) in own else per_value[value].copy()
    return own


def _subtree_sums(tree: LabelTree, own: dict[int, np.ndarray], empty: np.ndarray) -> dict[int, np.ndarray]:
    """Per node the sum of ``own`` over its subtree (children first, one addition per node)."""
    totals: dict[int, np.ndarray] = {}
    for node in reversed(tree.topological_order()):
        total = own.get(node, empty).copy()
        for child in tree.children(node):
            total += totals[child]
        totals[node] = total
    return totals


def tree_statistics(labels: np.ndarray, intensities: Optional[np.ndarray], tree: LabelTree,
                    label_nodes: Mapping[int, int], voxel_ml: float,
                    nodes: Optional[Iterable[int]] = None, confidence: Optional[np.ndarray] = None,
                    uncertain_below: float = UNCERTAIN_BELOW) -> list[NodeStatistics]:
    """Statistics of ``nodes`` (default: every node but the background leaf), in tree order.

    ``labels``: integer array; ``label_nodes``: label value → tree node index (a value may stand for
    an internal node, e.g. a merged segment or a truth that only says ``kidneys``); other values are
    outside every node. ``intensities``: same shape as ``labels``, or None for volumes only.
    ``confidence``: the chosen leaf's probability (0–1), same shape, or None.
    """
    if intensities is not None and intensities.shape != labels.shape:
        raise InputImageError(f"the CT has {intensities.shape[::-1]} voxels but the segmentation "
                              f"{labels.shape[::-1]}; they must share one grid")
    if confidence is not None and confidence.shape != labels.shape:
        raise InputImageError(f"the confidence map has {confidence.shape[::-1]} voxels but the segmentation "
                              f"{labels.shape[::-1]}; they must share one grid")
    top = _check_labels(labels)
    flat = labels.ravel()  # label values index the per-label accumulations directly: no remapping pass
    summaries, counts = _intensity_summaries(tree, flat, top + 1, label_nodes, intensities)
    if counts is None:  # no histograms to count from: one bincount
        counts = np.bincount(flat, minlength=top + 1).astype(np.int64)
    voxel_totals = _subtree_sums(tree, _own(counts[:, None], label_nodes), np.zeros(1, dtype=np.int64))
    sure = None if confidence is None else _confidence_sums(tree, flat, top + 1, label_nodes, confidence,
                                                            uncertain_below)

    chosen = range(len(tree)) if nodes is None else sorted(set(nodes))
    rows = []
    for node in chosen:
        if nodes is None and node == tree.background_leaf:
            continue
        voxels = int(voxel_totals[node][0])
        mean_probability = uncertain_ml = None
        if sure is not None:
            total, uncertain = sure[node]
            mean_probability = float(total) / voxels if voxels else None
            uncertain_ml = float(uncertain) * voxel_ml
        rows.append(NodeStatistics(tree.node_id(node), tree.display_name(node), tree.depth(node),
                                   tree.is_leaf(node), voxels, voxels * voxel_ml, summaries.get(node),
                                   mean_probability, uncertain_ml))
    return rows


def _confidence_sums(tree: LabelTree, labels: np.ndarray, label_count: int, label_nodes: Mapping[int, int],
                     confidence: np.ndarray, uncertain_below: float) -> dict[int, np.ndarray]:
    """Per node: (sum of the confidence, voxels below ``uncertain_below``) over its subtree."""
    values = confidence.ravel()
    per_value = np.stack([np.bincount(labels, weights=values, minlength=label_count),
                          np.bincount(labels[values < uncertain_below], minlength=label_count)], axis=1)
    return _subtree_sums(tree, _own(per_value.astype(np.float64), label_nodes), np.zeros(2))


def _intensity_summaries(tree: LabelTree, labels: np.ndarray, label_count: int,
                         label_nodes: Mapping[int, int],
                         intensities: Optional[np.ndarray]
                         ) -> tuple[dict[int, IntensitySummary], Optional[np.ndarray]]:
    """Per node its intensity summary, and the voxel count per label value when the histograms
    already give it (saves a pass)."""
    if intensities is None or not label_nodes:
        return {}, None
    values = intensities.ravel()
    value_range = histograms.integer_range(values)
    summaries: dict[int, IntensitySummary] = {}
    if value_range is not None:
        low, high = value_range
        per_value = histograms.label_histograms(labels, label_count, values, low, high)
        totals = _subtree_sums(tree, _own(per_value, label_nodes), np.zeros(high - low + 1, dtype=np.int64))
        for node, histogram in totals.items():
            summary = histograms.summary_from_histogram(histogram, low)
            if summary is not None:
                summaries[node] = summary
        return summaries, per_value.sum(axis=1)
    logger.info("intensities are not integers in a narrow range; sorting the voxels by label instead")
    parts = histograms.values_by_label(labels, label_count, values)
    own: dict[int, list[np.ndarray]] = {}
    for value, node in label_nodes.items():
        if 0 <= value < label_count:
            own.setdefault(int(node), []).append(parts[value])
    for node in range(len(tree)):
        pieces = [piece for member in tree.subtree(node) for piece in own.get(member, ())]
        summary = histograms.summary_from_values(histograms.merged_values(pieces))
        if summary is not None:
            summaries[node] = summary
    return summaries, None


def leaf_label_nodes(tree: LabelTree) -> dict[int, int]:
    """SALT's labelmap values → leaf nodes, background left out."""
    background = tree.background_value
    return {value: node for value, node in enumerate(tree.leaves) if value != background}


def labelmap_statistics(labelmap: sitk.Image, ct: Optional[sitk.Image], tree: LabelTree,
                        nodes: Optional[Iterable[int]] = None,
                        label_nodes: Optional[Mapping[int, int]] = None,
                        confidence: Optional[sitk.Image] = None,
                        uncertain_below: float = UNCERTAIN_BELOW) -> list[NodeStatistics]:
    """Statistics of a SALT labelmap (values = SALT's leaf values unless ``label_nodes`` says
    otherwise) with the CT's intensities, on the CT's own grid: a labelmap on another grid is
    resampled onto it (nearest neighbour); one elsewhere in space is refused. ``confidence``: a
    0–1 map (:func:`~.probability_images.probability_on_grid` puts it on that grid, linearly)."""
    if ct is not None:
        labelmap = on_grid_of(labelmap, ct)
        intensities = sitk.GetArrayViewFromImage(ct)
    else:
        intensities = None
    voxel_ml = float(np.prod(labelmap.GetSpacing())) / 1000.0
    mapping = leaf_label_nodes(tree) if label_nodes is None else label_nodes
    sure = None
    if confidence is not None:
        # A view keeps no reference to its image: hold the resampled map while the view is read.
        confidence_on_grid = probability_on_grid(confidence, labelmap, "the confidence map", "the segmentation")
        sure = sitk.GetArrayViewFromImage(confidence_on_grid)
    return tree_statistics(sitk.GetArrayViewFromImage(labelmap), intensities, tree, mapping, voxel_ml, nodes,
                           sure, uncertain_below)
