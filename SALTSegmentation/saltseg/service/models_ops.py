"""One-shot model operations for front ends, answered as protocol events:

- ``info``              the model list (installed first, then catalogue models to download), the
                        compute devices and the torch version
- ``download ID``       download, verify and install a catalogue model, with byte progress
- ``install PATH [--as ID]``  install from a folder, the two files or a .zip
- ``remove ID``         delete an installed model

and, as requests of ``serve`` (:mod:`.requests`), ``models``: the models to choose from, a SALT
server's or those installed here, answered by a ``models`` event (:func:`models_event`).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Optional

from ..progress import CancelToken
from .errors import ThrottledProgress
from .protocol import DONE, MODELS


def model_list(home: Optional[str]) -> list[dict[str, Any]]:
    from ..models import Registry, format_size

    registry = Registry(home or None)
    rows: list[dict[str, Any]] = []
    installed = set()
    for model in registry.list_installed():
        installed.add(model.id)
        title = f"{model.id} — {model.title}" if model.title else model.id
        note = f" (problem: {model.problem})" if model.problem else ""
        rows.append({"id": model.id, "label": title + note, "installed": model.problem is None,
                     "tooltip": f"{model.kind}, {format_size(model.size_bytes)}, {model.path}"})
    for entry in registry.list_catalog():
        if entry.id not in installed:
            rows.append({"id": entry.id, "label": f"{entry.id} — {entry.title} (not installed: download "
                                                  f"{format_size(entry.total_size)})",
                         "installed": False, "tooltip": entry.description})
    return rows


def device_list() -> list[dict[str, Any]]:
    from ..devices import device_availability

    return [{"name": d.name, "available": d.available, "reason": d.reason} for d in device_availability()]


def info(args, emit: Callable[..., None]) -> None:
    import torch

    from ..models import Registry

    emit(DONE, models=model_list(args.home), devices=device_list(), torch=torch.__version__,
         models_folder=str(Registry(args.home or None).cache_dir()))


def download(args, emit: Callable[..., None]) -> None:
    from ..models import Registry

    progress = ThrottledProgress(emit)

    def bytes_done(done: int, total: Optional[int], *rest) -> None:
        progress("download", done / total if total else 0.0, done=done, total=total)

    path = Registry(args.home or None).download(args.model_id, bytes_done, CancelToken())
    emit(DONE, path=str(path), model_id=args.model_id)


def install(args, emit: Callable[..., None]) -> None:
    from ..models import Registry

    path = Registry(args.home or None).install_from_path([Path(p) for p in args.paths], as_id=args.as_id)
    emit(DONE, path=str(path), model_id=args.as_id or Path(path).name)


def remove(args, emit: Callable[..., None]) -> None:
    from ..models import Registry

    Registry(args.home or None).remove(args.model_id)
    emit(DONE, model_id=args.model_id)


def local_model_rows(home: Optional[str]) -> list[dict[str, Any]]:
    """The installed, usable models as a ``models`` event lists them (``id``, ``title``)."""
    from ..models import Registry

    return [{"id": model.id, "title": model.title or model.id, "kind": model.kind}
            for model in Registry(home or None).list_installed() if model.problem is None]


def models_event(server, home: Optional[str], emit: Callable[..., None]) -> None:
    """Answer a ``models`` request: the SALT server's models (``server``: its
    :class:`~saltseg.remote.address.ServerAddress`), else those installed here."""
    if server is None:
        emit(MODELS, models=local_model_rows(home))
        return
    from ..remote.client import ServerConnection

    answer = ServerConnection(server, timeout=30.0).models()
    rows = [row for row in answer.get("models", []) if isinstance(row, dict) and isinstance(row.get("id"), str)]
    emit(MODELS, models=rows, server=server.url, default=answer.get("default"))
