"""``saltseg models list | download ID | install PATH [--as ID] [--link] | remove ID|--all``."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Optional

from tqdm import tqdm

from ..models import Registry, format_size
from .server_options import add_server_options, server_from_args


def add_parser(subparsers) -> None:
    # --catalog is accepted before or after the action ("models --catalog F list" or "models list --catalog F").
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--catalog", type=Path, default=argparse.SUPPRESS, metavar="FILE",
                        help="extra model catalogue JSON file (adds to $SALTSEG_CATALOG)")
    parser = subparsers.add_parser(
        "models", parents=[common], help="list, download, install and remove models",
        description="Manage segmentation models. They are stored in $SALTSEG_HOME (default: the user "
                    "data folder shown by 'saltseg models list'); $SALTSEG_CATALOG names extra catalogue files.",
    )
    actions = parser.add_subparsers(dest="models_action", required=True, metavar="ACTION")

    listing = actions.add_parser("list", parents=[common], help="catalogue models and what is installed (or, with "
                                                                 "--server, the models a SALT server offers)")
    add_server_options(listing)
    listing.set_defaults(run=run_list)

    download = actions.add_parser("download", parents=[common], help="download, verify and install a model")
    download.add_argument("model_id", metavar="ID")
    download.add_argument("--quiet", action="store_true", help="no progress bar")
    download.set_defaults(run=run_download)

    install = actions.add_parser(
        "install", parents=[common], help="install from a folder, the two files, or a .zip (offline)",
        description="Install model.pt + config.pkl from a folder, the two files, or a .zip of them. Files of "
                    "a catalogue model are verified against its sha256 (and recognised without --as).",
    )
    install.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="folder, .zip, or model.pt and config.pkl")
    install.add_argument("--as", dest="as_id", metavar="ID", help="model id (required for models not in the catalogue)")
    install.add_argument("--link", action="store_true",
                         help="use the folder where it is instead of copying it (needs --as)")
    install.set_defaults(run=run_install)

    remove = actions.add_parser("remove", parents=[common],
                                help="delete an installed model (a --link folder is only forgotten)")
    remove.add_argument("model_id", nargs="?", metavar="ID")
    remove.add_argument("--all", action="store_true", help="remove every installed model")
    remove.set_defaults(run=run_remove)


def _registry(args: argparse.Namespace) -> Registry:
    return Registry(catalog_file=getattr(args, "catalog", None))


def run_list(args: argparse.Namespace) -> int:
    server = server_from_args(args)
    if server is not None:
        return _list_server(server)
    registry = _registry(args)
    installed = {m.id: m for m in registry.list_installed()}
    rows = []
    for entry in registry.list_catalog():
        model = installed.pop(entry.id, None)
        if model is None:
            status, size = "available", entry.total_size
        else:
            status = "damaged" if model.problem else ("outdated" if model.outdated else model.kind)
            size = model.size_bytes
        rows.append((entry.id, status, format_size(size), entry.title))
    for model in installed.values():
        status = "damaged" if model.problem else model.kind
        rows.append((model.id, status, format_size(model.size_bytes), model.title or str(model.path)))
    width = max([len(r[0]) for r in rows] + [2])
    print(f"{'ID':<{width}}  {'STATUS':<10}  {'SIZE':>9}  TITLE")
    for model_id, status, size_text, title in rows:
        print(f"{model_id:<{width}}  {status:<10}  {size_text:>9}  {title}")
    for model in registry.list_installed():
        if model.problem:
            print(f"{model.id}: {model.problem}", file=sys.stderr)
    print(f"\nModels folder: {registry.cache_dir() / 'models'}")
    return 0


def _list_server(server) -> int:
    from ..remote.client import ServerConnection

    answer = ServerConnection(server, timeout=30.0).models()
    rows = [(str(row.get("id")), "default" if row.get("default") else "", str(row.get("title", "")))
            for row in answer.get("models", []) if isinstance(row, dict)]
    width = max([len(r[0]) for r in rows] + [2])
    print(f"{'ID':<{width}}  {'':<7}  TITLE")
    for model_id, default, title in rows:
        print(f"{model_id:<{width}}  {default:<7}  {title}")
    print(f"\nModels of the SALT server at {server.url}")
    return 0


class _ByteBar:
    def __init__(self, enabled: bool, description: str) -> None:
        self.enabled, self.description = enabled, description
        self._bar: Optional[tqdm] = None

    def __call__(self, done: int, total: Optional[int], speed: float) -> None:
        if not self.enabled:
            return
        if self._bar is None:
            self._bar = tqdm(total=total, desc=self.description, unit="B", unit_scale=True,
                             unit_divisor=1024, file=sys.stderr)
        self._bar.n = done
        self._bar.set_postfix_str(f"{speed / 1e6:.1f} MB/s", refresh=False)
        self._bar.refresh()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def run_download(args: argparse.Namespace) -> int:
    registry = _registry(args)
    entry = registry.entry(args.model_id)
    bar = _ByteBar(not args.quiet, entry.id)
    try:
        path = registry.download(entry.id, progress=bar)
    finally:
        bar.close()
    print(path)
    return 0


def run_install(args: argparse.Namespace) -> int:
    registry = _registry(args)
    if args.link:
        if args.as_id is None or len(args.paths) != 1:
            raise SystemExit("saltseg models install: --link needs one folder and --as ID")
        registry.register_folder(args.paths[0], args.as_id)
        print(Path(args.paths[0]).expanduser().resolve())
        return 0
    print(registry.install_from_path(args.paths, as_id=args.as_id))
    return 0


def run_remove(args: argparse.Namespace) -> int:
    registry = _registry(args)
    if args.all == (args.model_id is not None):
        raise SystemExit("saltseg models remove: give a model ID or --all")
    if args.all:
        removed = registry.remove_all()
        print(f"removed {len(removed)} model(s){': ' + ', '.join(removed) if removed else ''}", file=sys.stderr)
    else:
        registry.remove(args.model_id)
        print(f"removed {args.model_id}", file=sys.stderr)
    return 0
