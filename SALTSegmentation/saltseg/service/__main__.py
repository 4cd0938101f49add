"""``python -m saltseg.service serve [--idle-timeout S] | info | download ID | install PATH... [--as ID]
| remove ID`` (all with ``--home FOLDER``): the engine process of the Slicer module."""
from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import Optional, Sequence

from . import models_ops
from .errors import report_error
from .protocol import READY, EventWriter, identity


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m saltseg.service",
                                     description="SALT engine process speaking JSON lines on stdout.")
    parser.add_argument("--home", default=None, help="models folder (overrides $SALTSEG_HOME)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log details to stderr")
    actions = parser.add_subparsers(dest="action", required=True)
    serve = actions.add_parser("serve", help="segment requests read from stdin, keeping the model loaded")
    serve.add_argument("--idle-timeout", type=float, default=300.0,
                       help="exit after this many seconds without a request (0: never)")
    actions.add_parser("info", help="models, devices and the torch version")
    download = actions.add_parser("download", help="download and install a catalogue model")
    download.add_argument("model_id")
    install = actions.add_parser("install", help="install a model from a folder, files or a .zip")
    install.add_argument("paths", nargs="+")
    install.add_argument("--as", dest="as_id", default=None)
    remove = actions.add_parser("remove", help="delete an installed model")
    remove.add_argument("model_id")
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")
    if args.action == "serve":
        from .server import serve

        return serve(args.idle_timeout)
    from .process_tree import own_process_group

    own_process_group()  # so that Cancel ends this process and its children together
    emit = EventWriter()
    # behind Slicer's PythonSlicer launcher the front end knows only the launcher's pid
    emit(READY, pid=os.getpid(), **identity())
    try:
        getattr(models_ops, args.action)(args, emit)
    except BaseException as error:  # noqa: BLE001 - reported as an event, exit code 1
        report_error(emit, error)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
