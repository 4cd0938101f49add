"""``saltseg phantom --seed N [--count K] -o DIR``: synthetic CTs with SALT tree labels."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..phantom.dataset import SPLITS, write_phantoms
from ..phantom.generator import DEFAULT_SPACING
from ..phantom.geometry import FIELDS_OF_VIEW, ORIENTATIONS
from .argtypes import non_negative_int, positive_int


def _spacing(text: str) -> float:
    value = float(text)
    if not 0.5 <= value <= 20.0:
        raise argparse.ArgumentTypeError(f"spacing must be within 0.5–20 mm, got {text}")
    return value


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "phantom", help="generate synthetic whole-body CT phantoms with SALT tree labels",
        description="Write procedural CT phantoms (NIfTI image + labelmap) in SALT's dataset layout: "
                    "DIR/{labels.txt,tree-labels.txt,SPLIT/{images,labels}/phantom_<seed>.nii.gz}. "
                    "The same seed always gives the same phantom.",
    )
    parser.add_argument("-o", "--output", type=Path, required=True, help="dataset folder")
    parser.add_argument("--seed", type=non_negative_int, default=0, help="first seed (default 0)")
    parser.add_argument("--count", type=positive_int, default=1, help="number of phantoms, seeds N..N+K-1")
    parser.add_argument("--split", choices=SPLITS, default="train", help="dataset split (default train)")
    parser.add_argument("--spacing", type=_spacing, default=None,
                        help="fixed isotropic voxel spacing in mm (default: random, in-plane "
                             f"{DEFAULT_SPACING[0][0]}–{DEFAULT_SPACING[0][1]}, slices "
                             f"{DEFAULT_SPACING[1][0]}–{DEFAULT_SPACING[1][1]})")
    parser.add_argument("--orientation", choices=ORIENTATIONS, default=None,
                        help="orientation written in the file (default: random)")
    parser.add_argument("--field-of-view", choices=sorted(FIELDS_OF_VIEW), default=None,
                        help="body region covered (default: random)")
    parser.add_argument("--quiet", action="store_true", help="do not list the files written")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    spacing = DEFAULT_SPACING if args.spacing is None else args.spacing
    seeds = range(args.seed, args.seed + args.count)
    written = write_phantoms(args.output, seeds, args.split, spacing, args.orientation, args.field_of_view)
    if not args.quiet:
        for path in written:
            print(path)
    print(f"{len(written)} phantom(s) in {args.output}", file=sys.stderr)
    return 0
