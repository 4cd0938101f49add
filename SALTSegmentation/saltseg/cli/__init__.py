"""``saltseg`` command line: one sub-command per module, each with ``add_parser`` and ``run``."""
from __future__ import annotations

import argparse
import logging
import signal
import sys
from typing import Optional, Sequence

if "--multiprocessing-fork" in getattr(sys, "orig_argv", ()):
    # A process multiprocessing started from this command line (saltseg batch's Dask workers),
    # which imports it again first: the terminal's Ctrl-C reaches the whole process group, and
    # each worker would die printing a traceback. The command stops its workers itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)

from .. import __version__
from ..errors import SaltSegError

INTERRUPTED = "saltseg: interrupted; nothing was written"


def commands() -> list:
    """The sub-command modules, in the order ``--help`` lists them. Imported when the parser is
    built (they load torch and SimpleITK: seconds), inside :func:`main`, so a Ctrl-C meanwhile is
    one line too."""
    from . import (batch_command, demo_command, evaluate_command, models_command, organize_command, phantom_command,
                   segment_command, serve_command, stats_command, train_command)

    return [segment_command, batch_command, stats_command, evaluate_command, organize_command, models_command,
            serve_command, phantom_command, train_command, demo_command]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="saltseg",
        description="Whole-body CT segmentation with SALT (Softmax for Arbitrary Label Trees).",
    )
    parser.add_argument("--version", action="version", version=f"saltseg {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log details to stderr")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in commands():
        command.add_parser(subparsers)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    try:
        parser = build_parser()
    except KeyboardInterrupt:
        print(INTERRUPTED, file=sys.stderr)
        return 130
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.run(args) or 0)
    except SaltSegError as error:
        print(f"saltseg: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(INTERRUPTED, file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
