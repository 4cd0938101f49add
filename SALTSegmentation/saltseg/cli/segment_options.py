"""The options of one segmentation run, shared by every sub-command that segments.

``saltseg segment`` and ``saltseg batch`` call::

    add_segment_options(parser)              # --device, --overlap, --fast, --backend, ...
    options = segment_options_from_args(args)  # -> saltseg.inference.pipeline.SegmentOptions

Options the parser already defines (a sub-command with its own ``--device``, say) are left alone,
so the helper never raises argparse's "conflicting option string".
"""
from __future__ import annotations

import argparse

from ..inference.backends import BACKEND_CHOICES, PRECISION_CHOICES
from ..devices import DEVICE_CHOICES
from ..inference.pipeline import FAST_OVERLAP, SegmentOptions
from ..inference.sliding_window import AIR_SKIP_HU, WINDOW_PLACEMENTS
from .argtypes import positive_int


#: What bf16 measured (benchmarks/README.md, "bfloat16"): shown in --help.
BF16_HELP = ("measured on the published architecture, random weights: 97.6 %% of leaf labels equal "
             "to float32 on the probe window, below the 99.5 %% bar, so float32 stays the default and "
             "the check runs float32 when bf16 disagrees; fast only on CPUs with AVX-512/AMX bf16, "
             "float32 runs elsewhere")


def overlap_fraction(text: str) -> float:
    value = float(text)
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"overlap must be in [0, 1), got {text}")
    return value


def _add(parser: argparse.ArgumentParser, *flags: str, **kwargs) -> None:
    if any(flag in parser._option_string_actions for flag in flags):  # the sub-command's own wins
        return
    parser.add_argument(*flags, **kwargs)


def add_segment_options(parser: argparse.ArgumentParser) -> None:
    """Add the options that control how a CT is segmented (not what is read or written)."""
    _add(parser, "--device", default="auto", choices=DEVICE_CHOICES,
         help="compute device (auto: CUDA, then Apple MPS, then CPU)")
    _add(parser, "--fast", action="store_true",
         help=f"speed preset: window overlap {FAST_OVERLAP} instead of 0.5 and windows holding only "
              "air are skipped (about 3x fewer windows; labels no longer identical to SALT's)")
    _add(parser, "--overlap", type=overlap_fraction, default=None,
         help="sliding-window overlap (default 0.5 as SALT, or the --fast preset's)")
    _add(parser, "--batch-size", type=positive_int, default=2,
         help="windows per forward pass on a GPU (default 2; the CPU runs them one at a time)")
    _add(parser, "--backend", default="auto", choices=BACKEND_CHOICES,
         help="network runtime: auto uses OpenVINO on the CPU when installed (pip install "
              "\"saltseg[openvino]\"; checked against torch on the first window, torch if it "
              "disagrees), else torch")
    _add(parser, "--precision", default="fp32", choices=PRECISION_CHOICES,
         help="network arithmetic on the CPU (both runtimes): fp32 (default, SALT's labels) or bf16 "
              f"(opt-in: {BF16_HELP})")
    _add(parser, "--window-placement", default=None, choices=WINDOW_PLACEMENTS,
         help="salt: SALT's own windows, so labels are SALT's; flush: no invented air padding along "
              "the long axis (last window flush with the scan's end); default: the placement the "
              "model was certified with (its inference.json; salt for SALT's models)")
    _add(parser, "--skip-air", action=argparse.BooleanOptionalAction, default=None,
         help=f"skip windows in which every voxel is below {AIR_SKIP_HU:.0f} HU and label them "
              "background (default: off, on with --fast)")
    _add(parser, "--whole-model", action="store_true",
         help="run model.pt whole, tree softmax included, instead of taking the network's logits "
              "from it (slower; for checking)")
    _add(parser, "--no-largest-component", dest="largest_component", action="store_false",
         help="keep every connected component (default: keep the largest body component)")
    _add(parser, "--no-mixed-precision", dest="mixed_precision", action="store_false",
         help="run CUDA inference in float32")
    _add(parser, "--only", action="append", default=[], metavar="NODE",
         help="keep only this structure's subtree in the outputs: a tree path (body,bones,spine) or a "
              "name (spine, kidney_left, 'Lumbar spine'); repeatable. The network still runs over the "
              "whole scan")


def segment_options_from_args(args: argparse.Namespace) -> SegmentOptions:
    """The :class:`SegmentOptions` the parsed command line asks for (``--fast`` first, then the
    explicit options on top of it)."""
    options = SegmentOptions.fast() if getattr(args, "fast", False) else SegmentOptions()
    if getattr(args, "overlap", None) is not None:
        options.overlap = args.overlap
    if getattr(args, "skip_air", None) is not None:
        options.skip_air = args.skip_air
    options.batch_size = getattr(args, "batch_size", options.batch_size)
    options.backend = getattr(args, "backend", options.backend)
    options.precision = getattr(args, "precision", options.precision)
    options.window_placement = getattr(args, "window_placement", options.window_placement)
    options.whole_model = getattr(args, "whole_model", options.whole_model)
    options.largest_component = getattr(args, "largest_component", options.largest_component)
    options.mixed_precision = getattr(args, "mixed_precision", options.mixed_precision)
    options.structures = tuple(getattr(args, "only", None) or ())
    return options
