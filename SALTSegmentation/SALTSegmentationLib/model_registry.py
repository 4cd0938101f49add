"""The model selector's contents, from the engine's model registry (``saltseg.models``).

Guarded: if the registry package is missing the module still loads and offers only
"choose a model folder". Qt-free so the list logic is plain Python.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional


@dataclass(frozen=True)
class ModelChoice:
    id: str  # registry id, or a folder path for a folder picked by the user
    label: str
    installed: bool
    tooltip: str = ""


def open_registry(home: Optional[str] = None) -> Optional[Any]:
    """A ``saltseg.models.Registry``, or None if this build has no registry."""
    try:
        from saltseg.models import Registry
    except ImportError:
        return None
    return Registry(home or None)


def model_choices(registry: Optional[Any], extra_folders: tuple[str, ...] = ()) -> list[ModelChoice]:
    """Installed models first (usable ones selectable), then catalogue models to download."""
    choices: list[ModelChoice] = []
    installed_ids = set()
    if registry is not None:
        from saltseg.models import format_size

        for model in registry.list_installed():
            installed_ids.add(model.id)
            title = f"{model.id} — {model.title}" if model.title else model.id
            note = f" (problem: {model.problem})" if model.problem else ""
            choices.append(ModelChoice(model.id, title + note, model.problem is None,
                                       f"{model.kind}, {format_size(model.size_bytes)}, {model.path}"))
        for entry in registry.list_catalog():
            if entry.id not in installed_ids:
                choices.append(ModelChoice(entry.id, f"{entry.id} — {entry.title} (not installed: "
                                           f"download {format_size(entry.total_size)})", False,
                                           entry.description))
    for folder in extra_folders:
        choices.append(ModelChoice(folder, f"Folder: {Path(folder).name}", Path(folder).is_dir(), folder))
    return choices
