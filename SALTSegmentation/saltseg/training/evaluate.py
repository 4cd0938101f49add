"""Score a model on freshly generated phantoms through the production inference path.

Every phantom goes through :func:`saltseg.inference.pipeline.segment_image` (reorientation, resampling,
sliding window, tree softmax, largest component, mapping back), and is scored on its own grid
against the generator's labels: Dice per leaf and left/right swaps per leaf pair.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Optional, Sequence, Union

import numpy as np
import SimpleITK as sitk

from ..tree.labeltree import LabelTree
from ..model.model_io import load_model
from ..phantom import LEFT_RIGHT_PAIRS, PHANTOM_LEAF_PATHS, Phantom, generate_phantom
from ..phantom.generator import DEFAULT_SPACING
from ..inference.pipeline import SegmentOptions, segment_image
from .metrics import confusion, left_right_confusions, node_dice, structure_leaf_ids

logger = logging.getLogger(__name__)


@dataclass
class CaseScore:
    seed: int
    info: dict
    leaf_dice: dict[str, float]  # structure leaves present in the truth (no background)
    mean_dice: float
    left_right: list[dict]
    seconds: float


@dataclass
class Evaluation:
    cases: list[CaseScore] = field(default_factory=list)

    @property
    def mean_dice(self) -> float:
        """Mean over cases of each case's mean Dice over the structures present in it."""
        return float(np.mean([c.mean_dice for c in self.cases]))

    def per_leaf(self) -> dict[str, float]:
        """Mean Dice of each leaf over the cases that contain it."""
        scores: dict[str, list[float]] = {}
        for case in self.cases:
            for leaf, value in case.leaf_dice.items():
                scores.setdefault(leaf, []).append(value)
        return {leaf: float(np.mean(v)) for leaf, v in sorted(scores.items())}

    @property
    def left_right_confusions(self) -> int:
        return sum(item["confused"] for case in self.cases for item in case.left_right)

    def to_json(self) -> dict:
        return {
            "mean_dice": round(self.mean_dice, 4),
            "min_leaf_dice": round(min(self.per_leaf().values()), 4),
            "per_leaf_dice": {k: round(v, 4) for k, v in self.per_leaf().items()},
            "left_right_confusions": self.left_right_confusions,
            "cases": [{"seed": c.seed, **c.info, "mean_dice": round(c.mean_dice, 4),
                       "left_right_swapped_voxels": sum(i["voxels"] for i in c.left_right),
                       "seconds": round(c.seconds, 2)} for c in self.cases],
        }


def score_phantom(tree: LabelTree, phantom: Phantom, predicted: sitk.Image) -> tuple[dict[str, float], list[dict]]:
    """Dice of each structure leaf (not the background) present in the phantom's truth, keyed by
    node id, and the left/right report, for a prediction (the model's label values) on the
    phantom's grid."""
    # phantom label value → the model's label value of the same path (the trees may differ)
    to_model = np.array([tree.label_value(path) for path in PHANTOM_LEAF_PATHS], dtype=np.int64)
    truth_values = to_model[sitk.GetArrayViewFromImage(phantom.labels)]
    counts = confusion(tree, np.asarray(tree.leaves)[truth_values], sitk.GetArrayViewFromImage(predicted))
    dice = node_dice(tree, counts)
    structures = structure_leaf_ids(tree)
    present = [tree.node_id(leaf) for leaf in tree.leaves if counts[leaf].sum() > 0]
    return ({leaf: dice.get(leaf, 0.0) for leaf in present if leaf in structures},
            left_right_confusions(tree, counts, LEFT_RIGHT_PAIRS))


def evaluate_on_phantoms(model_dir: Union[str, Path], seeds: Iterable[int], spacing_range=DEFAULT_SPACING,
                         orientations: Optional[Sequence[str]] = None, device: str = "cpu",
                         options: Optional[SegmentOptions] = None) -> Evaluation:
    """Generate phantom ``seed`` for each seed (orientation cycled through ``orientations`` if
    given), segment it with the model in ``model_dir`` and score it."""
    model = load_model(model_dir, device)
    evaluation = Evaluation()
    for i, seed in enumerate(seeds):
        started = time.perf_counter()
        orientation = orientations[i % len(orientations)] if orientations else None
        phantom = generate_phantom(seed, spacing_range, orientation)
        result = segment_image(phantom.image, model, options or SegmentOptions())
        leaf_dice, left_right = score_phantom(model.tree, phantom, result.labelmap)
        score = CaseScore(int(seed), phantom.info, leaf_dice, float(np.mean(list(leaf_dice.values()))),
                          left_right, time.perf_counter() - started)
        logger.info("phantom %d (%s): mean Dice over structures %.4f", seed, phantom.info["orientation"],
                    score.mean_dice)
        evaluation.cases.append(score)
    return evaluation


def markdown_table(evaluation: Evaluation) -> str:
    """Per-leaf Dice table plus the summary lines, in markdown."""
    lines = ["| leaf | mean Dice |", "|---|---:|"]
    lines += [f"| {leaf} | {value:.4f} |" for leaf, value in evaluation.per_leaf().items()]
    lines += ["", f"mean Dice over the structures present (background excluded): **{evaluation.mean_dice:.4f}** "
                  f"({len(evaluation.cases)} phantoms)",
              f"left/right confusions: **{evaluation.left_right_confusions}**"]
    return "\n".join(lines)
