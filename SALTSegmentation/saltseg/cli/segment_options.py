"""The segment options shared by ``saltseg segment`` and ``saltseg batch`` (overlap, batch size, …).

One place defines them, so both commands accept the same flags with the same defaults and checks.
"""
from __future__ import annotations

import argparse

from ..inference.pipeline import SegmentOptions
from .argtypes import positive_int


def _overlap(text: str) -> float:
    value = float(text)
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"overlap must be in [0, 1), got {text}")
    return value


def add_segment_options(parser: argparse.ArgumentParser) -> None:
    """Add the engine's segment options to ``parser`` (device and model are the command's own)."""
    group = parser.add_argument_group("segment options")
    group.add_argument("--overlap", type=_overlap, default=0.5, help="sliding-window overlap (default 0.5)")
    group.add_argument("--batch-size", type=positive_int, default=2, help="windows per forward pass (default 2)")
    group.add_argument("--no-largest-component", dest="largest_component", action="store_false",
                       help="keep every connected component (default: keep the largest body component)")
    group.add_argument("--no-mixed-precision", dest="mixed_precision", action="store_false",
                       help="run CUDA inference in float32")


def segment_options_from_args(args: argparse.Namespace) -> SegmentOptions:
    """The :class:`SegmentOptions` the parsed flags ask for."""
    return SegmentOptions(overlap=args.overlap, batch_size=args.batch_size,
                          largest_component=args.largest_component,
                          mixed_precision=args.mixed_precision)
