"""``saltseg segment INPUT -o OUTPUT``: a CT file or DICOM folder to a .seg.nrrd, labelmap, DICOM SEG or RT Structure
Set."""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Union

from ..io.output_check import replaced_note
from ..job.description import SegmentJob, job_help
from ..job.run import JobOutcome, run_job
from ..outputs.formats import FORMATS, format_choices
from .probability_options import add_probability_arguments, probability_fields
from .segment_options import add_segment_options, segment_options_from_args
from .server_options import add_server_options, server_from_args
from .progress_bar import StageProgressBar

if TYPE_CHECKING:
    from ..remote.remote_job import RemoteOutcome

logger = logging.getLogger(__name__)


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "segment", help="segment a CT into the SALT label tree",
        description="Segment a CT (NIfTI/NRRD/MHA file or DICOM series folder) into a Slicer "
                    ".seg.nrrd, a labelmap (.nii.gz/.nrrd/.mha) with a .labels.json table beside it, or, for "
                    "a DICOM series, a DICOM SEG or RT Structure Set referencing it.",
    )
    parser.add_argument("input", type=Path, help="CT image file or DICOM series folder")
    parser.add_argument("-o", "--output", type=Path, required=True, help=job_help("output"))
    parser.add_argument("--model", default=None, metavar="ID|DIR", help=job_help("model"))
    parser.add_argument("--catalog", type=Path, default=None, help=job_help("catalog"))
    add_segment_options(parser)
    parser.add_argument("--mask", action="append", default=[], metavar="NODE", help=job_help("masks") + "; repeatable")
    parser.add_argument("--preview", type=Path, default=None, metavar="PNG", help=job_help("preview"))
    parser.add_argument("--statistics", type=Path, default=None, metavar="FILE", help=job_help("statistics"))
    add_probability_arguments(parser)
    parser.add_argument("--format", dest="output_format", default="auto", choices=["auto", *format_choices()],
                        help="auto: from the OUTPUT suffix; " + "; ".join(
                            f"{fmt.name} (*{fmt.suffix}): {fmt.help}" for fmt in FORMATS.values()))
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    add_server_options(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    job = SegmentJob(input=args.input, output=args.output, format=args.output_format,
                     model=str(args.model) if args.model is not None else None,
                     catalog=str(args.catalog) if args.catalog is not None else None, device=args.device,
                     options=segment_options_from_args(args), masks=tuple(args.mask), preview=args.preview,
                     statistics=args.statistics, **probability_fields(args))
    server = server_from_args(args)
    outcome: Union[JobOutcome, RemoteOutcome]
    with StageProgressBar(enabled=not args.quiet) as bar:
        if server is None:
            outcome = run_job(job, progress=bar)
            device = str(outcome.model.device)
        else:
            from ..remote.remote_job import run_remote_job

            outcome = run_remote_job(job, server, progress=bar)
            device = f"{outcome.device} at {server.url}"
    result = outcome.result
    names = ", ".join(entry.name for entry in result.label_table()[:8])
    more = len(result.present_values) - 8
    note = replaced_note(outcome.replaced)
    print(f"{len(result.present_values)} structures ({names}{f', … {more} more' if more > 0 else ''}) "
          f"in {sum(result.timings.values()):.1f} s on {device}"
          + (f", {result.stats['precision']}" if result.stats.get("precision") else "")
          + (f"; {note}" if note else ""),
          file=sys.stderr)
    for path in outcome.written:
        print(path)
    return 0
