"""Turn ``--model ID|DIR`` into a model folder, cheaply (stat calls only, no hashing)."""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Callable, Mapping, Optional, Union

from ..errors import ModelError
from ..model.model_io import check_model_dir
from .cache import ModelStore
from .catalog import DEFAULT_MODEL_ID, MODEL_ID_PATTERN, CatalogEntry, differs_from_catalog
from .errors import ModelNotInstalledError, RegistryError
from .messages import known_ids_text, not_installed_message

logger = logging.getLogger(__name__)


def _looks_like_path(spec: str) -> bool:
    separators = [s for s in (os.sep, os.altsep, "/") if s]
    return any(s in spec for s in separators) or spec.startswith((".", "~")) or not MODEL_ID_PATTERN.match(spec)


def resolve_with(store: ModelStore, load_catalog: Callable[[], Mapping[str, CatalogEntry]],
                 spec: Optional[Union[str, Path]]) -> Path:
    """The folder of ``spec``: a model folder, else a registered, installed or bundled model id.
    The catalogue is read only when needed (a model folder or a registered id work with a broken
    catalogue file)."""
    if spec is not None and (Path(spec).expanduser().is_dir() or _looks_like_path(str(spec))):
        folder = Path(spec).expanduser()
        if not folder.is_dir():
            raise ModelError(f"model folder {folder} does not exist (and '{spec}' is not a model id)")
        check_model_dir(folder)
        return folder
    model_id = str(spec) if spec is not None else DEFAULT_MODEL_ID

    registered = store.registered().get(model_id)
    if registered is not None:
        try:
            check_model_dir(registered)
        except ModelError as error:
            raise ModelError(f"model '{model_id}' is registered to {registered}, but {error}; fix the folder or "
                             f"run `saltseg models remove {model_id}`") from error
        return registered

    catalog = load_catalog()  # not before: a registered model works with a broken catalogue file
    if store.manifest(model_id) is not None:
        problem = store.problem(model_id)
        if problem:
            repair = (f"`saltseg models download {model_id}` repairs it" if model_id in catalog
                      else f"install it again with `saltseg models install PATH --as {model_id}`")
            raise ModelError(f"installed model '{model_id}' is damaged: {problem}; {repair}, or "
                             f"`saltseg models remove {model_id}` deletes it")
        if differs_from_catalog(catalog.get(model_id), store.manifest(model_id)):
            logger.warning("model '%s' in %s differs from the catalogue's current version; "
                           "`saltseg models download %s` updates it", model_id, store.model_dir(model_id), model_id)
        return store.model_dir(model_id)

    entry = catalog.get(model_id)
    if entry is None:
        raise RegistryError(f"unknown model '{model_id}'; {known_ids_text(catalog, store)}, "
                            "or give a folder containing model.pt and config.pkl")
    if entry.bundled and entry.bundled_dir.is_dir():
        check_model_dir(entry.bundled_dir)
        return entry.bundled_dir
    raise ModelNotInstalledError(not_installed_message(entry))
