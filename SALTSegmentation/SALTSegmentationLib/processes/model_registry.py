"""The model selector's contents: what the engine's ``info`` command lists (the registry lives in
the engine process, because it imports torch), plus model folders the user picked. Qt-free."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence


@dataclass(frozen=True)
class ModelChoice:
    id: str  # registry id, or a folder path for a folder picked by the user
    label: str
    installed: bool
    tooltip: str = ""


def folder_choices(folders: Iterable[str]) -> list[ModelChoice]:
    return [ModelChoice(folder, f"Folder: {Path(folder).name}", Path(folder).is_dir(), folder) for folder in folders]


def model_choices(rows: Sequence[dict], folders: Iterable[str] = ()) -> list[ModelChoice]:
    """Installed models first (usable ones selectable), then catalogue models to download, then folders."""
    registry = [ModelChoice(row["id"], row["label"], bool(row["installed"]), row.get("tooltip", "")) for row in rows]
    return registry + folder_choices(folders)


#: Device choices before the engine has said which exist (no torch yet).
DEFAULT_DEVICES = ({"name": "auto", "available": True, "reason": ""}, {"name": "cpu", "available": True, "reason": ""})
