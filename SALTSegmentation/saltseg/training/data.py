"""Training data in SALT's dataset layout, fused into one label tree.

A dataset is a folder with ``tree-labels.txt`` (line ``i`` = tree path of label value ``i``; ``-``
unused) and ``<split>/{images,labels}/<case>.nii.gz``. Several datasets with different trees are
fused as SALT does: the tree is the union of all their paths, and each dataset gets a lookup table
from its label values to node indices of the fused tree. A value may map to an internal node (a
partially annotated dataset, e.g. "kidneys" without the side): the loss then supervises only that
node's probability. Cases are prepared with the inference pipeline's own preprocessing
(:func:`saltseg.inference.preprocess.prepare_volume`) so training sees exactly what inference will.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence, Union

import numpy as np
import SimpleITK as sitk

from ..errors import SaltSegError
from ..tree.labeltree import LabelTree, SourceLabel, parse_tree_labels
from ..model.model_io import IntensityProperties
from ..inference.preprocess import prepare_volume, reorient, resample_to_spacing, to_network_array

logger = logging.getLogger(__name__)

TREE_FILE = "tree-labels.txt"
IGNORE = -1  # target value of voxels without annotation (padding, unused label values)


class TrainingDataError(SaltSegError):
    """A training dataset is missing, malformed or inconsistent."""


@dataclass
class Case:
    image: Path
    label: Path
    dataset: str
    lut: np.ndarray  # dataset label value → fused node index, IGNORE for unused values


@dataclass
class TrainingData:
    tree: LabelTree
    datasets: list[Path]
    splits: dict[str, list[Case]] = field(default_factory=dict)

    def cases(self, split: str) -> list[Case]:
        return self.splits.get(split, [])


def _dataset_folders(roots: Sequence[Union[str, Path]]) -> list[Path]:
    folders: list[Path] = []
    for root in map(Path, roots):
        if not root.is_dir():
            raise TrainingDataError(f"dataset folder {root} does not exist")
        found = [root] if (root / TREE_FILE).is_file() else sorted(p.parent for p in root.rglob(TREE_FILE))
        if not found:
            raise TrainingDataError(f"{root} has no {TREE_FILE} (not a SALT dataset, and contains none)")
        folders.extend(found)
    return folders


def find_datasets(roots: Sequence[Union[str, Path]]) -> TrainingData:
    """Read the datasets under ``roots`` and fuse their label trees."""
    folders = _dataset_folders(roots)
    labels_per_dataset: list[list[SourceLabel]] = []
    for folder in folders:
        text = (folder / TREE_FILE).read_text(encoding="utf-8")
        labels_per_dataset.append(parse_tree_labels(text, source=str(folder / TREE_FILE)))
    tree = LabelTree.from_source_labels([lab for labels in labels_per_dataset for lab in labels])
    data = TrainingData(tree, folders)
    for folder, labels in zip(folders, labels_per_dataset):
        lut = np.full(max(len(labels), 1), IGNORE, dtype=np.int64)
        for label in labels:
            if label.path is not None:
                lut[label.value] = tree.index(label.path)
        for split_dir in sorted(p for p in folder.iterdir() if p.is_dir()):
            images = sorted((split_dir / "images").glob("*.nii*"))
            for image in images:
                label_file = split_dir / "labels" / image.name
                if not label_file.is_file():
                    raise TrainingDataError(f"{image} has no labelmap {label_file}")
                data.splits.setdefault(split_dir.name, []).append(Case(image, label_file, folder.name, lut))
    if not data.cases("train"):
        raise TrainingDataError(f"no training cases: expected <dataset>/train/images/*.nii.gz in "
                                f"{', '.join(map(str, folders))}")
    logger.info("%d dataset(s), fused tree %r, splits %s", len(folders), tree,
                {k: len(v) for k, v in data.splits.items()})
    return data


@dataclass
class PreparedCase:
    """A case on the network grid: normalised image and node-index target, both ``[X, Y, Z]``."""

    name: str
    image: np.ndarray  # float32
    target: np.ndarray  # int16 node indices, IGNORE where unannotated


def _check_same_grid(image: sitk.Image, label: sitk.Image, case: Case) -> None:
    if image.GetSize() != label.GetSize():
        raise TrainingDataError(f"{case.label}: labelmap size {label.GetSize()} differs from the "
                                f"image size {image.GetSize()} of {case.image}")
    for what, a, b, tol in (("spacing", image.GetSpacing(), label.GetSpacing(), 1e-3),
                            ("origin", image.GetOrigin(), label.GetOrigin(), 1e-2),
                            ("direction", image.GetDirection(), label.GetDirection(), 1e-4)):
        if not np.allclose(a, b, atol=tol):
            raise TrainingDataError(f"{case.label}: labelmap {what} {b} differs from the image's {a}")


def prepare_case(case: Case, spacing: Sequence[float],
                 intensity: Optional[IntensityProperties] = None) -> PreparedCase:
    """Reorient, resample and normalise like inference; labels go through nearest neighbour onto
    the same grid and then through the dataset's lookup table."""
    try:
        image = sitk.ReadImage(str(case.image))
        label = sitk.ReadImage(str(case.label))
    except RuntimeError as error:
        raise TrainingDataError(f"cannot read {case.image.name}: {error}") from error
    _check_same_grid(image, label, case)
    prepared = prepare_volume(image, spacing, intensity)
    label = resample_to_spacing(reorient(sitk.Cast(label, sitk.sitkInt32)), spacing, sitk.sitkNearestNeighbor,
                                default_value=-1, pixel_type=sitk.sitkInt32)
    values = np.asarray(to_network_array(label))
    if values.shape != prepared.array.shape:  # cannot happen when the grids match; guard anyway
        raise TrainingDataError(f"{case.label}: resampled label grid {values.shape} != image {prepared.array.shape}")
    bad = (values >= len(case.lut))
    if bad.any():
        raise TrainingDataError(f"{case.label}: label value {int(values[bad].max())} has no line in "
                                f"{case.dataset}/{TREE_FILE} ({len(case.lut)} lines)")
    target = np.where(values >= 0, case.lut[np.clip(values, 0, None)], IGNORE).astype(np.int16)
    return PreparedCase(f"{case.dataset}/{case.image.name}", prepared.array, target)
