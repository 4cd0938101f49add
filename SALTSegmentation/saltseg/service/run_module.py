"""``python -m saltseg.service.run_module MODULE ARGS...``: ``python -m MODULE ARGS...`` (pip,
light-the-torch) in a process group of its own, after reporting this process's pid as a ``ready``
event. The Slicer module starts Python through ``PythonSlicer``, a launcher that runs the real
interpreter as its child, so without the reported pid Cancel could only kill the launcher and pip
would go on installing."""
from __future__ import annotations

import os
import runpy
import sys
from typing import Optional, Sequence

from ..privacy import switch_off_telemetry
from .process_tree import own_process_group
from .protocol import READY, encode, identity


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args:
        sys.exit("usage: python -m saltseg.service.run_module MODULE [ARGS...]")
    own_process_group()
    switch_off_telemetry()  # pip imports nothing it installs today; a module run here never reports home
    sys.stdout.write(encode(READY, pid=os.getpid(), **identity()))
    sys.stdout.flush()
    sys.argv = args  # what MODULE sees, as under ``python -m MODULE ARGS...``
    runpy.run_module(args[0], run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
