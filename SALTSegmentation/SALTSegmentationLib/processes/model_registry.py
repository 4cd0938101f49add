"""The model selector's contents: what the engine's ``info`` command lists (the registry lives in
the engine process, because it imports torch), plus model folders the user picked. Qt-free."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Optional, Sequence


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


def server_model_choices(rows: Sequence[dict], url: str, default: Optional[str] = None) -> list[ModelChoice]:
    """The models a SALT server offers (``id``, ``title``), its default first: all usable, none to
    download or pick from a folder here."""

    def label(row: dict) -> str:
        title = row.get("title")
        text = f"{row['id']} — {title}" if title and title != row["id"] else row["id"]
        return text + (" (the server's default)" if row["id"] == default else "")

    ordered = sorted(rows, key=lambda row: row["id"] != default)  # stable: the server's order otherwise
    return [ModelChoice(row["id"], label(row), True, f"On the SALT server {url}") for row in ordered]


#: Device choices before the engine has said which exist (no torch yet).
DEFAULT_DEVICES = ({"name": "auto", "available": True, "reason": ""}, {"name": "cpu", "available": True, "reason": ""})
