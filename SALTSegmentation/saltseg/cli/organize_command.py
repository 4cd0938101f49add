"""``saltseg organize INPUT -o OUT.seg.nrrd``: another model's segmentation as SALT's label tree."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..organize.mapping import SNOMED
from ..organize.schemes import BUILTIN_SCHEMES


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "organize", help="place an existing segmentation (TotalSegmentator, CADS, ...) in the label tree",
        description="Read a segmentation made elsewhere — a labelmap with a name table, a folder of "
                    "per-structure masks (TotalSegmentator), a CADS output, a Slicer .seg.nrrd or a DICOM SEG — "
                    "and write it as the engine writes its own results: every structure tagged with its tree "
                    "path, the tree in the header. A segmentation this project wrote (segment, demo, batch, "
                    "organize) is read by the tree paths it carries, exactly, before any name scheme. "
                    "Structures SALT's tree lacks get new nodes in the right place; anything that cannot be "
                    "placed is kept under 'unmapped' and named on stderr.",
    )
    parser.add_argument("input", type=Path, help="labelmap file, folder of masks, .seg.nrrd or DICOM SEG")
    parser.add_argument("-o", "--output", type=Path, required=True,
                        help="output .seg.nrrd, or labelmap .nii.gz/.nrrd/.mha (+ .labels.json)")
    parser.add_argument("--scheme", default="auto", metavar="auto|" + "|".join(BUILTIN_SCHEMES + (SNOMED,)) + "|FILE",
                        help="how to read the structure names: recognised from the names (auto, default), a "
                             "built-in scheme, 'snomed' (segments' terminology codes), or a mapping FILE (JSON, "
                             "format saltseg-name-scheme) that extends or overrides the built-ins")
    parser.add_argument("--labels", type=Path, default=None, metavar="NAMES",
                        help="name table of a labelmap: JSON {\"1\": \"spleen\", ...} or 'value name' lines "
                             "(default: <input>_labels.json beside it, else the scheme's class map)")
    parser.add_argument("--task", default=None, metavar="TASK",
                        help="the scheme's label value map for a labelmap without names (totalsegmentator: "
                             "total [default], total_v1, ...; cads: combined [default] or a part model 551-559)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..organize.organize_file import organise_file

    result = organise_file(args.input, args.output, scheme=args.scheme, labels=args.labels, task=args.task)
    placement = result.placement
    existing, new = placement.new_node_count()
    print(f"{args.input}: {placement.summary()}", file=sys.stderr)
    print(f"{existing} on nodes of SALT's tree, {new} on nodes the tree gained, "
          f"{len(placement.unmapped)} unmapped", file=sys.stderr)
    print(args.output)
    return 0
