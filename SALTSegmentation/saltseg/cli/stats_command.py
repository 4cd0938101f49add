"""``saltseg stats SEGMENTATION --ct CT -o FILE``: statistics of every tree node of an existing result."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..analysis.probability_images import read_probability_map
from ..analysis.segmentation_file import read_tree_segmentation
from ..analysis.statistics import labelmap_statistics
from ..analysis.subsets import resolve_structures, subset_nodes
from ..analysis.tables import check_table_path, write_statistics
from ..io.image_io import read_image
from ..tree.labeltree import LabelTree
from .probability_options import add_uncertain_below


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "stats", help="volumes and CT intensity statistics of every tree node of a segmentation",
        description="Voxels, volume (mL) and the CT's intensity statistics (mean, std, median, min, max, "
                    "5th/95th percentile HU) of every node of the label tree — leaves and internal nodes, an "
                    "internal node being the union of its subtree — on the CT's own grid.",
    )
    parser.add_argument("segmentation", type=Path,
                        help="a .seg.nrrd with its tree, or a labelmap with its .labels.json beside it")
    parser.add_argument("--ct", type=Path, default=None,
                        help="the CT (file or DICOM folder); without it only voxels and volumes are written")
    parser.add_argument("-o", "--output", type=Path, required=True, help="statistics table, .csv or .json")
    parser.add_argument("--tree", type=Path, default=None,
                        help="label tree (tree-labels.txt) for a labelmap without its .labels.json")
    parser.add_argument("--only", action="append", default=[], metavar="NODE",
                        help="list only this structure's subtree (repeatable)")
    parser.add_argument("--confidence", type=Path, default=None, metavar="MAP",
                        help="the confidence map of the segmentation (saltseg segment --confidence: "
                             "<name>.confidence.nii.gz): adds mean_probability (the mean chosen-leaf probability "
                             "over each node's voxels) and uncertain_ml")
    add_uncertain_below(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    output = check_table_path(args.output, "statistics")
    tree = LabelTree.from_tree_labels_file(args.tree) if args.tree is not None else None
    segmentation = read_tree_segmentation(args.segmentation, tree)
    nodes = subset_nodes(segmentation.tree, resolve_structures(segmentation.tree, args.only)) if args.only else None
    for _value, name in sorted(segmentation.unmapped.items()):
        print(f"saltseg stats: segment {name!r} is not a node of the label tree; left out", file=sys.stderr)
    confidence = read_probability_map(args.confidence) if args.confidence is not None else None
    ct = read_image(args.ct) if args.ct is not None else None
    rows = labelmap_statistics(segmentation.labelmap, ct, segmentation.tree, nodes, segmentation.label_nodes,
                               confidence=confidence, uncertain_below=args.uncertain_below)
    extra = {"confidence": str(args.confidence), "uncertain_below": args.uncertain_below} if confidence else {}
    print(write_statistics(rows, output, segmentation=str(args.segmentation),
                           ct=str(args.ct) if args.ct is not None else None, **extra))
    return 0
