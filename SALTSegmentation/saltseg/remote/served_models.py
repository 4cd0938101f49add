"""The models a server offers: its default (``saltseg serve --model``, loaded at start and kept
loaded) and every usable model of its registry, by id. A client names one by id only; the
server alone knows where it lives."""
from __future__ import annotations

import logging
from functools import lru_cache
from pathlib import Path
from typing import Any, Optional

from .job_spec import ServedModel

logger = logging.getLogger(__name__)


def default_model(spec: Optional[str], home: Optional[str]) -> ServedModel:
    """The server's default model, resolved now (an unknown or missing model stops the start)."""
    from ..models import DEFAULT_MODEL_ID, Registry, resolve_model_dir

    folder = resolve_model_dir(spec, home=home)
    if spec is not None and Path(spec).expanduser().is_dir():
        return ServedModel(Path(spec).name, f"the model in {Path(spec).name}", str(Path(folder).absolute()))
    model_id = spec or DEFAULT_MODEL_ID
    titles = {model.id: model.title for model in Registry(home).list_installed()}
    return ServedModel(model_id, titles.get(model_id) or model_id, model_id)


def served_models(default: ServedModel, home: Optional[str]) -> dict[str, ServedModel]:
    """The default model and every installed, undamaged model of the server's registry."""
    from ..models import Registry

    models = {default.id: default}
    try:
        installed = Registry(home).list_installed()
    except Exception as error:  # noqa: BLE001 - a broken registry leaves the default model served
        logger.warning("cannot list the installed models: %s", error)
        installed = []
    for model in installed:
        if model.problem is None and model.id not in models:
            models[model.id] = ServedModel(model.id, model.title or model.id, model.id)
    return models


@lru_cache(maxsize=16)
def _tree_json(folder: str, stamp: float) -> dict[str, Any]:
    from ..model.model_io import check_model_dir, read_config

    return read_config(check_model_dir(folder)[1]).tree.to_json_dict()


def model_tree(model: ServedModel, home: Optional[str]) -> dict[str, Any]:
    """The model's label tree (read from its config, without loading the network): a client checks
    its masks, structures and probability maps against it before it sends the CT."""
    from ..model.model_io import CONFIG_FILE
    from ..models import resolve_model_dir

    folder = Path(model.spec) if Path(model.spec).is_absolute() else resolve_model_dir(model.spec, home=home)
    return _tree_json(str(folder), (Path(folder) / CONFIG_FILE).stat().st_mtime)
