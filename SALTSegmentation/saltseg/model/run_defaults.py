"""How a model asks to be run: ``inference.json`` beside ``model.pt`` and ``config.pkl``.

A model is certified (its accuracy measured) with one window placement; running it with another
changes its labels. The placement therefore travels with the model folder, so that every front
end (``saltseg segment``/``demo``/``batch``, the engine service, the Slicer module) runs it as
certified whenever the user did not choose one::

    {"window_placement": "flush", "why": "trained and scored without SALT's air padding"}

The file is optional: without it a model runs with SALT's own placement (SALT's published models
ship only ``model.pt`` and ``config.pkl``).
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Union

from ..errors import ModelError

logger = logging.getLogger(__name__)

RUN_DEFAULTS_FILE = "inference.json"
KNOWN_KEYS = {"window_placement", "why"}
#: The window placements a model can ask for (:mod:`saltseg.inference.window_placement` places them).
WINDOW_PLACEMENTS = ("salt", "flush")


@dataclass(frozen=True)
class RunDefaults:
    """The run settings a model was certified with."""

    window_placement: str = "salt"


def read_run_defaults(model_dir: Union[str, Path]) -> RunDefaults:
    """The model folder's ``inference.json``, or SALT's defaults where there is none."""
    path = Path(model_dir) / RUN_DEFAULTS_FILE
    if not path.is_file():
        return RunDefaults()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ModelError(f"{path} is not readable JSON: {error}") from error
    if not isinstance(data, dict):
        raise ModelError(f"{path} must hold a JSON object, got {type(data).__name__}")
    unknown = sorted(set(data) - KNOWN_KEYS)
    if unknown:
        raise ModelError(f"{path}: unknown setting(s) {', '.join(unknown)}; known: {', '.join(sorted(KNOWN_KEYS))}")
    placement = data.get("window_placement", "salt")
    if placement not in WINDOW_PLACEMENTS:
        raise ModelError(f"{path}: window_placement must be one of {', '.join(WINDOW_PLACEMENTS)}, "
                         f"got {placement!r}")
    defaults = RunDefaults(window_placement=placement)
    logger.debug("model %s runs by default with %s", model_dir, defaults)
    return defaults


def chosen_or_model_placement(chosen: Optional[str], defaults: RunDefaults) -> str:
    """The user's window placement where they chose one, else the model's certified one."""
    return chosen if chosen is not None else defaults.window_placement


def write_run_defaults(model_dir: Union[str, Path], defaults: RunDefaults, why: str = "") -> Path:
    """Write ``inference.json`` into a model folder (atomically)."""
    from ..atomic import atomic_write

    data = {"window_placement": defaults.window_placement, **({"why": why} if why else {})}
    path = Path(model_dir) / RUN_DEFAULTS_FILE
    text = json.dumps(data, indent=1) + "\n"
    atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"), suffix=".json")
    return path
