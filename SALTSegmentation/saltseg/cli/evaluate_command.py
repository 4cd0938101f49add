"""``saltseg evaluate PREDICTION TRUTH -o scores.csv``: Dice and NSD per tree node, as SALT scores."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Optional

from ..analysis.calibration import DEFAULT_BINS
from ..analysis.evaluation import DEFAULT_TOLERANCE_MM
from ..analysis.evaluation_run import (EvaluationPair, case_name, evaluate_pairs, pairs_from_cases,
                                       pairs_from_folders, write_report)
from ..analysis.label_names import NameMapper
from ..analysis.tables import check_table_path
from ..errors import InputImageError
from ..organize.mapping import SchemeSpec, resolve_scheme, tree_path
from ..organize.schemes import BUILTIN_SCHEMES
from ..tree.labeltree import LabelTree
from .argtypes import positive_float, positive_int


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "evaluate", help="Dice and normalised surface Dice per tree node against a truth",
        description="Score predictions against truth label maps per tree node, at every depth the truth "
                    "annotates: a truth that only labels 'kidneys' (no side) or 'bones' is scored at that "
                    "node against the union of the prediction's subtree. Writes one row per case and node, "
                    "a summary per node and per depth, and lists truth labels that map to no node.",
    )
    parser.add_argument("prediction", type=Path, nargs="?",
                        help="a prediction (.seg.nrrd, or labelmap with .labels.json), or a folder of them")
    parser.add_argument("truth", type=Path, nargs="?",
                        help="the truth labelmap, or a folder of them (paired by case name)")
    parser.add_argument("--cases", type=Path, default=None, metavar="CSV|DIR",
                        help="a CSV list of pairs (columns prediction, truth, optional case, truth_labels), or "
                             "a folder with predictions/ and truth/ subfolders (files paired by case name)")
    parser.add_argument("--truth-labels", type=Path, default=None, metavar="FILE",
                        help="the truth's label names: JSON {\"1\": \"spleen\"}, SALT's labels.txt or tree-labels.txt")
    parser.add_argument("--scheme", default="auto", metavar="auto|tree|SCHEME|FILE",
                        help="how truth names map to tree nodes: auto (the tree's own node names, then the "
                             "built-in name schemes of 'saltseg organize'), tree (node names only), a built-in "
                             "scheme (totalsegmentator, cads, salt), or a mapping FILE in organize's format")
    parser.add_argument("--tree", type=Path, default=None,
                        help="label tree (tree-labels.txt) to score in (default: the prediction's own)")
    parser.add_argument("--tolerance", type=positive_float, default=DEFAULT_TOLERANCE_MM, metavar="MM",
                        help=f"NSD tolerance in mm (default {DEFAULT_TOLERANCE_MM:g})")
    parser.add_argument("--calibration", action="store_true",
                        help="also score the probability maps beside each prediction (saltseg segment "
                             "--probabilities: <name>.prob.<node>.nii.gz or .nrrd) against the truth: expected "
                             "calibration error per node (.calibration.csv) and its reliability table "
                             "(.reliability.csv: per probability bin the voxels, mean probability and observed "
                             "fraction)")
    parser.add_argument("--bins", type=positive_int, default=DEFAULT_BINS, metavar="N",
                        help=f"probability bins of the reliability table (default {DEFAULT_BINS})")
    parser.add_argument("-o", "--output", type=Path, required=True,
                        help="scores .csv (plus .summary.csv, .unmapped.csv, with --calibration .calibration.csv "
                             "and .reliability.csv) or one .json")
    parser.set_defaults(run=run)


def _pairs(args: argparse.Namespace) -> list[EvaluationPair]:
    if args.cases is not None:
        if args.prediction is not None or args.truth is not None:
            raise InputImageError("give either PREDICTION TRUTH or --cases, not both")
        return pairs_from_cases(args.cases)
    if args.prediction is None or args.truth is None:
        raise InputImageError("give PREDICTION and TRUTH (files or folders), or --cases CSV")
    for path in (args.prediction, args.truth):
        if not path.exists():
            raise InputImageError(f"{path} does not exist")
    if args.prediction.is_dir() != args.truth.is_dir():
        raise InputImageError("PREDICTION and TRUTH must both be files or both be folders")
    if args.prediction.is_dir():
        return pairs_from_folders(args.prediction, args.truth)
    return [EvaluationPair(case_name(args.prediction), args.prediction, args.truth)]


def name_mapper(scheme: str) -> Optional[NameMapper]:
    """Truth name → tree path through organize's name schemes (None: the tree's own names only).
    A mapping file is read once, here, so a mistake in it fails before any case is read."""
    if scheme == "tree":
        return None
    spec: SchemeSpec = scheme
    if scheme != "auto" and scheme not in BUILTIN_SCHEMES:
        user, _ = resolve_scheme(scheme)
        if user is not None:  # a mapping file, read once here
            spec = user
    return lambda name: tree_path(name=name, scheme=spec)


def run(args: argparse.Namespace) -> int:
    output = check_table_path(args.output, "scores")
    mapper = name_mapper(args.scheme)
    pairs = _pairs(args)
    tree = LabelTree.from_tree_labels_file(args.tree) if args.tree is not None else None
    report = evaluate_pairs(pairs, tree, args.truth_labels, args.tolerance, mapper=mapper,
                            progress=lambda done, total: print(f"\r{done}/{total} cases", end="", file=sys.stderr),
                            calibration_bins=args.bins if args.calibration else None)
    print(file=sys.stderr)
    if report.calibration is not None and not report.calibration.nodes:
        raise InputImageError("--calibration: no probability map beside any prediction (<name>.prob.<node>.nii.gz "
                              "of a node the truth annotates); write them with saltseg segment --probabilities")
    for case, value, name in report.unmapped:
        print(f"saltseg evaluate: {case}: truth label {value} ({name!r}) is not a node of the label tree; "
              "not scored", file=sys.stderr)
    for path in write_report(report, output):
        print(path)
    return 0
