"""The probability-map fields of a job as command-line flags (``saltseg segment`` and ``saltseg batch``).

Help texts and defaults are the job fields' own (:class:`saltseg.job.description.SegmentJob`):
``--probabilities NODE ...``, ``--probabilities-dtype``, ``--confidence``, ``--uncertain-below``.
"""
from __future__ import annotations

import argparse
from typing import Any

from ..job.description import job_fields, job_help
from ..outputs.probability_maps import PROBABILITY_DTYPES


def job_default(name: str) -> Any:
    return next(item.default for item in job_fields() if item.name == name)


def probability_threshold(text: str) -> float:
    """argparse type of ``--uncertain-below``: a probability in (0, 1]."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0.0 < value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be a probability in (0, 1], got {text}")
    return value


def add_uncertain_below(parser: "argparse._ActionsContainer") -> None:
    """``--uncertain-below P`` (a parser or an argument group)."""
    default = job_default("uncertain_below")
    parser.add_argument("--uncertain-below", type=probability_threshold, default=default, metavar="P",
                        help=f"{job_help('uncertain_below')} (default {default:g})")


def add_probability_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("probability maps")
    group.add_argument("--probabilities", nargs="+", action="extend", default=[], metavar="NODE",
                       help=job_help("probabilities") + "; several nodes after one flag, or the flag repeated")
    group.add_argument("--probabilities-dtype", choices=PROBABILITY_DTYPES, default=job_default("probabilities_dtype"),
                       help=job_help("probabilities_dtype") + " (default %(default)s)")
    group.add_argument("--confidence", action="store_true", help=job_help("confidence"))
    add_uncertain_below(group)


def probability_fields(args: argparse.Namespace) -> dict[str, Any]:
    """The job fields the parsed flags ask for."""
    return {"probabilities": tuple(args.probabilities), "probabilities_dtype": args.probabilities_dtype,
            "confidence": bool(args.confidence), "uncertain_below": float(args.uncertain_below)}

