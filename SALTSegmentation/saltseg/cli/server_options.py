"""``--server URL --token-file FILE [--ca-file PEM]``: run on a SALT server (``saltseg serve``).

``saltseg segment``, ``saltseg batch`` and ``saltseg models list`` call::

    add_server_options(parser)
    address = server_from_args(args)   # None: run here; else a saltseg.remote.address.ServerAddress
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, Optional


def add_server_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("SALT server")
    group.add_argument("--server", default=None, metavar="URL",
                       help="run on this SALT server (saltseg serve), e.g. https://gpu-server:8765; the outputs "
                            "are written here as for a local run")
    group.add_argument("--token-file", type=Path, default=None, metavar="FILE",
                       help="file holding the server's token (needed with --server)")
    group.add_argument("--ca-file", type=Path, default=None, metavar="PEM",
                       help="trust this certificate (bundle) for the server, e.g. its self-signed certificate "
                            "(default: the system's trust store, or $SSL_CERT_FILE)")


def server_from_args(args: argparse.Namespace) -> Optional[Any]:
    """The server the arguments name, its token read; None without ``--server``."""
    from ..remote.address import ServerAddress, read_token_file
    from ..remote.errors import ServerError

    url = getattr(args, "server", None)
    if url is None:
        if getattr(args, "token_file", None) is not None or getattr(args, "ca_file", None) is not None:
            raise ServerError("--token-file and --ca-file go with --server URL")
        return None
    if args.token_file is None:
        raise ServerError("--server needs --token-file FILE (the server's token; never on the command line)")
    if args.ca_file is not None and not args.ca_file.is_file():
        raise ServerError(f"--ca-file {args.ca_file} does not exist")
    return ServerAddress(url, read_token_file(args.token_file), str(args.ca_file) if args.ca_file else None)
