"""``OUTDIR/volumes.csv``: the volume of every tree node in every case.

Leaves are counted in the labelmap; an internal node (the spine, all ribs, both lungs) is the sum
over its subtree, so the table answers questions at any level of the anatomy.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np
import SimpleITK as sitk

from ..analysis.tables import csv_text, read_rows_by_case, write_text
from ..tree.labeltree import LabelTree

VOLUMES_FILE = "volumes.csv"
COLUMNS = ["case", "node", "name", "depth", "leaf", "voxels", "volume_ml"]


@dataclass(frozen=True)
class NodeVolume:
    case: str
    node: str  # tree path, comma-joined: the stable key
    name: str
    depth: int
    leaf: bool
    voxels: int
    volume_ml: float

    def to_row(self) -> dict[str, str]:
        return {"case": self.case, "node": self.node, "name": self.name, "depth": str(self.depth),
                "leaf": "1" if self.leaf else "0", "voxels": str(self.voxels),
                "volume_ml": f"{self.volume_ml:.4f}"}

    @classmethod
    def from_row(cls, row: dict[str, str]) -> "NodeVolume":
        return cls(row["case"], row["node"], row["name"], int(row["depth"]), row["leaf"] == "1",
                   int(row["voxels"]), float(row["volume_ml"]))


def node_volumes(case: str, labelmap: sitk.Image, tree: LabelTree) -> list[NodeVolume]:
    """One row per tree node except the background leaf, in tree order."""
    leaf_count = len(tree.leaves)
    values = sitk.GetArrayViewFromImage(labelmap).ravel()
    counts = np.bincount(values, minlength=leaf_count)[:leaf_count]
    voxel_ml = float(np.prod(labelmap.GetSpacing())) / 1000.0
    background = tree.background_value
    rows = []
    for node in range(len(tree)):
        label_values = tree.subtree_label_values(node)
        if tree.is_leaf(node) and tree.label_value(node) == background:
            continue
        voxels = int(counts[list(label_values)].sum())
        rows.append(NodeVolume(case, tree.node_id(node), tree.display_name(node), tree.depth(node),
                               tree.is_leaf(node), voxels, voxels * voxel_ml))
    return rows


def read_volumes(outdir: Path) -> dict[str, list[NodeVolume]]:
    """Rows of an earlier run, by case."""
    return read_rows_by_case(outdir / VOLUMES_FILE, NodeVolume.from_row)


def write_volumes(outdir: Path, rows: Iterable[NodeVolume]) -> Path:
    return write_text(outdir / VOLUMES_FILE, csv_text((row.to_row() for row in rows), COLUMNS))
