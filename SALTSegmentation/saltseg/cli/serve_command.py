"""``saltseg serve --token-file FILE``: a SALT server for clients elsewhere (``--server URL``)."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..devices import DEVICE_CHOICES
from .argtypes import positive_float, positive_int


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"a port is 0-65535 (0: any free port), got {value}")
    return value


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "serve", help="serve segmentations over HTTP(S) to clients elsewhere (saltseg segment --server)",
        description="A SALT server: keeps the model loaded and runs the jobs of clients (saltseg segment/batch "
                    "--server URL, the Slicer module) one at a time. Every request needs the token of "
                    "--token-file. Without TLS it listens on this computer only (127.0.0.1) unless "
                    "--insecure-http. Needs pip install 'saltseg[server]'.",
    )
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default 127.0.0.1; 0.0.0.0: every network, needs TLS)")
    parser.add_argument("--port", type=_port, default=8765, help="port (default 8765; 0: any free port)")
    parser.add_argument("--token-file", type=Path, required=True, metavar="FILE",
                        help="the clients' token(s), one per line (re-read when it changes: add a new token, "
                             "hand it out, remove the old one)")
    parser.add_argument("--model", default=None, metavar="ID|DIR",
                        help="default model, loaded at start and kept loaded (default: the published SALT model); "
                             "clients may name any other installed model")
    parser.add_argument("--home", default=None, metavar="DIR", help="models folder (default: $SALTSEG_HOME)")
    parser.add_argument("--device", default="auto", choices=DEVICE_CHOICES,
                        help="compute device (auto: CUDA, then Apple MPS, then CPU)")
    parser.add_argument("--max-upload-mb", type=positive_float, default=2048.0, metavar="MB",
                        help="largest CT upload taken (default 2048)")
    parser.add_argument("--max-jobs", type=positive_int, default=64, metavar="N",
                        help="unfinished jobs held at once (waiting for their upload, queued or running; "
                             "default 64): a client asking for one more is told the server is busy (HTTP 503)")
    parser.add_argument("--tls-cert", type=Path, default=None, metavar="PEM", help="TLS certificate (chain)")
    parser.add_argument("--tls-key", type=Path, default=None, metavar="PEM", help="its private key")
    parser.add_argument("--insecure-http", action="store_true",
                        help="serve plain http on a non-loopback address (only behind a TLS proxy or on a trusted "
                             "network: the token and the CTs are readable on the way)")
    parser.add_argument("--work-dir", type=Path, default=None, metavar="DIR",
                        help="where uploads and results live while their job runs (default: the user cache "
                             "folder's saltseg/server); emptied at start")
    parser.add_argument("--client-timeout", type=positive_float, default=30.0, metavar="S",
                        help="cancel a job whose client is gone (no event stream, transfer or request) for S "
                             "seconds (default 30)")
    parser.add_argument("--keep-results", type=positive_float, default=3600.0, metavar="S",
                        help="delete results not downloaded within S seconds (default 3600)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..remote.serve import ServeSettings, serve

    return serve(ServeSettings(
        token_file=args.token_file, host=args.host, port=args.port, model=args.model, device=args.device,
        home=args.home, max_upload_mb=args.max_upload_mb, max_jobs=args.max_jobs, tls_cert=args.tls_cert,
        tls_key=args.tls_key, insecure_http=args.insecure_http, work_dir=args.work_dir,
        client_timeout=args.client_timeout, keep_results=args.keep_results))
