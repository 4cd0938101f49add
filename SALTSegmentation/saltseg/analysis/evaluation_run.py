"""``saltseg evaluate``: pairs of prediction and truth files in, score tables out.

Pairs come from two files, two folders (files paired by case name) or a CSV list. Each truth is a
labelmap with a name table (``--truth-labels``, or ``<name>.labels.json`` beside it) or a SALT
result; its labels map to nodes of the prediction's tree (or ``--tree``). With a
:class:`~.calibration.CalibrationTable`, the probability maps beside each prediction
(``<name>.prob.<node>.nii.gz``) are scored for calibration too.
"""
from __future__ import annotations

import csv
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional, Sequence

import SimpleITK as sitk

from ..errors import InputImageError
from ..io.image_io import read_image
from ..io.writers import label_table_path
from ..tree.labeltree import LabelTree
from .calibration import (CALIBRATION_COLUMNS, RELIABILITY_COLUMNS, CalibrationTable, calibration_document,
                          maps_beside, read_maps)
from .evaluation import (DEFAULT_TOLERANCE_MM, SCORE_COLUMNS, SUMMARY_COLUMNS, NodeScore, evaluate_case,
                         summarize_scores)
from .label_names import NameMapper, map_names, read_name_table
from .segmentation_file import read_tree_segmentation
from .tables import check_table_path, csv_text, write_text

logger = logging.getLogger(__name__)

_SUFFIXES = (".seg.nrrd", ".nii.gz", ".nii", ".nrrd", ".mha", ".mhd")


@dataclass(frozen=True)
class EvaluationPair:
    case: str
    prediction: Path
    truth: Path
    truth_labels: Optional[Path] = None  # name table of this truth (else the run's, else beside it)


@dataclass
class EvaluationReport:
    scores: list[NodeScore] = field(default_factory=list)
    unmapped: list[tuple[str, int, str]] = field(default_factory=list)  # (case, value, name)
    tree: Optional[LabelTree] = None
    calibration: Optional[CalibrationTable] = None


def case_name(path: Path) -> str:
    name = path.name
    for suffix in _SUFFIXES:
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


def _segmentation_files(folder: Path) -> dict[str, Path]:
    files = {}
    for path in sorted(folder.iterdir()):
        if path.is_file() and not path.name.startswith(".") and path.name.lower().endswith(_SUFFIXES):
            files[case_name(path)] = path
    return files


def pairs_from_folders(predictions: Path, truths: Path) -> list[EvaluationPair]:
    """Files of both folders paired by case name (``ct7.seg.nrrd`` with ``ct7.nii.gz``)."""
    predicted, truth = _segmentation_files(predictions), _segmentation_files(truths)
    common = sorted(set(predicted) & set(truth))
    if not common:
        raise InputImageError(f"no case of {predictions} has a truth of the same name in {truths}")
    for name in sorted(set(truth) - set(predicted)):
        logger.warning("truth %s has no prediction; left out", truth[name].name)
    return [EvaluationPair(name, predicted[name], truth[name]) for name in common]


PREDICTION_FOLDERS = ("predictions", "prediction")
TRUTH_FOLDERS = ("truth", "truths", "labels")


def pairs_from_cases(path: Path) -> list[EvaluationPair]:
    """``--cases``: a CSV list of pairs, or a folder holding ``predictions/`` and ``truth/``
    (files paired by case name)."""
    if not path.exists():
        raise InputImageError(f"case list {path} does not exist")
    if path.is_file():
        return pairs_from_csv(path)
    predictions = next((path / n for n in PREDICTION_FOLDERS if (path / n).is_dir()), None)
    truths = next((path / n for n in TRUTH_FOLDERS if (path / n).is_dir()), None)
    if predictions is None or truths is None:
        raise InputImageError(f"{path} needs a predictions/ and a truth/ folder (files paired by case name), "
                              "or give a CSV list of pairs")
    return pairs_from_folders(predictions, truths)


def pairs_from_csv(path: Path) -> list[EvaluationPair]:
    """A CSV with ``prediction`` and ``truth`` columns (relative to the CSV), optional ``case`` and
    ``truth_labels``."""
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
    except (OSError, csv.Error, UnicodeDecodeError) as error:
        raise InputImageError(f"cannot read the case list {path}: {error}") from error
    if not rows or not {"prediction", "truth"} <= set(rows[0]):
        raise InputImageError(f"{path} needs the columns prediction and truth (and optionally case, truth_labels)")
    base = path.parent
    pairs = []
    for number, row in enumerate(rows, start=2):
        if not row["prediction"] or not row["truth"]:
            raise InputImageError(f"{path}:{number}: prediction and truth must both be given")
        prediction = base / row["prediction"]
        labels = row.get("truth_labels") or ""
        pairs.append(EvaluationPair(row.get("case") or case_name(prediction), prediction, base / row["truth"],
                                    base / labels if labels else None))
    names = [pair.case for pair in pairs]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise InputImageError(f"{path}: case names repeat: {', '.join(repeated)}")
    return pairs


def read_truth(path: Path, tree: LabelTree, names_file: Optional[Path],
               mapper: Optional[NameMapper] = None) -> tuple[sitk.Image, dict[int, int], dict[int, str]]:
    """The truth labelmap, its label values → nodes of ``tree``, and the names that map to none."""
    if names_file is None and (path.name.lower().endswith(".seg.nrrd") or label_table_path(path).is_file()):
        stored = read_tree_segmentation(path)  # a SALT result: map its nodes by tree path
        names = {value: stored.tree.node_id(node) for value, node in stored.label_nodes.items()}
        names.update(stored.unmapped)
        mapping = map_names(tree, names, mapper)
        return stored.labelmap, mapping.label_nodes, mapping.unmapped
    if names_file is None:
        raise InputImageError(f"truth {path.name} comes without label names: give --truth-labels "
                              "(JSON, labels.txt or tree-labels.txt)")
    image = read_image(path)
    mapping = map_names(tree, read_name_table(names_file), mapper)
    return image, mapping.label_nodes, mapping.unmapped


def evaluate_pairs(pairs: Sequence[EvaluationPair], tree: Optional[LabelTree] = None,
                   truth_labels: Optional[Path] = None, tolerance_mm: float = DEFAULT_TOLERANCE_MM,
                   mapper: Optional[NameMapper] = None,
                   progress: Optional[Callable[[int, int], None]] = None,
                   calibration_bins: Optional[int] = None) -> EvaluationReport:
    """Score every pair; ``tree`` defaults to each prediction's own tree. ``calibration_bins``:
    also score the probability maps beside each prediction, in that many bins."""
    report = EvaluationReport(tree=tree)
    for index, pair in enumerate(pairs):
        prediction = read_tree_segmentation(pair.prediction, tree)
        case_tree = tree or prediction.tree
        report.tree = report.tree or case_tree
        image, truth_nodes, unmapped = read_truth(pair.truth, case_tree, pair.truth_labels or truth_labels, mapper)
        present = _present_values(image)
        for value, name in sorted(unmapped.items()):
            if value in present:
                report.unmapped.append((pair.case, value, name))
        for _value, name in sorted(prediction.unmapped.items()):
            logger.warning("%s: prediction segment %r is not a node of the tree; not scored", pair.case, name)
        if not truth_nodes:
            raise InputImageError(f"{pair.case}: none of the truth's label names is a node of the label tree "
                                  f"({', '.join(sorted(set(unmapped.values()))[:6])} …)")
        report.scores.extend(evaluate_case(pair.case, prediction.labelmap, prediction.label_nodes,
                                           image, truth_nodes, case_tree, tolerance_mm))
        if calibration_bins is not None:
            report.calibration = report.calibration or CalibrationTable(case_tree, calibration_bins)
            maps = maps_beside(pair.prediction, case_tree)
            if not maps:
                logger.warning("%s: no probability maps beside %s; not scored for calibration", pair.case,
                               pair.prediction.name)
            report.calibration.add_case(pair.case, read_maps(maps), image, truth_nodes)
        if progress is not None:
            progress(index + 1, len(pairs))
    return report


def _present_values(image: sitk.Image) -> set[int]:
    import numpy as np

    return {int(v) for v in np.unique(sitk.GetArrayViewFromImage(image))}


def write_report(report: EvaluationReport, output: Path) -> list[Path]:
    """``.json``: one document; ``.csv``: the scores, ``<stem>.summary.csv``, with calibration
    ``<stem>.calibration.csv`` (ECE per node) and ``<stem>.reliability.csv`` (its bins) and, when
    truth labels were left unmapped, ``<stem>.unmapped.csv``."""
    output = check_table_path(output, "scores")
    summary = summarize_scores(report.scores, report.tree)
    unmapped_rows = [{"case": c, "value": str(v), "name": n} for c, v, n in report.unmapped]
    if output.suffix.lower() == ".json":
        document = {"format": "saltseg-evaluation", "version": 1,
                    "scores": [s.to_row() for s in report.scores],
                    "summary": [s.to_row() for s in summary], "unmapped_truth_labels": unmapped_rows}
        if report.calibration is not None:
            document["calibration"] = calibration_document(report.calibration)
        return [write_text(output, json.dumps(document, indent=1))]
    stem = output.name[: -len(output.suffix)]
    written = [write_text(output, csv_text((s.to_row() for s in report.scores), SCORE_COLUMNS)),
               write_text(output.with_name(stem + ".summary.csv"),
                          csv_text((s.to_row() for s in summary), SUMMARY_COLUMNS))]
    if report.calibration is not None:
        written += [write_text(output.with_name(stem + ".calibration.csv"),
                               csv_text(report.calibration.summary_rows(), CALIBRATION_COLUMNS)),
                    write_text(output.with_name(stem + ".reliability.csv"),
                               csv_text(report.calibration.reliability_rows(), RELIABILITY_COLUMNS))]
    unmapped_path = output.with_name(stem + ".unmapped.csv")
    if unmapped_rows:
        written.append(write_text(unmapped_path, csv_text(unmapped_rows, ("case", "value", "name"))))
    else:
        unmapped_path.unlink(missing_ok=True)  # a stale list from an earlier run would mislead
    return written
