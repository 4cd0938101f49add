"""The on-disk model store: where installed models live and how they appear atomically.

Layout of the home folder (``$SALTSEG_HOME``, a Slicer setting, or the platform's user data dir)::

    models/<id>/model.pt, config.pkl, saltseg-model.json   installed models (manifest written last)
    registered.json                                        id -> user folder, used in place (no copy)
    catalog.json                                           optional user catalogue
    .tmp/                                                  partial downloads and staging folders
    .locks/<id>.lock                                       inter-process locks
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Optional, Union

import platformdirs

from ..atomic import atomic_write
from ..errors import ModelError
from ..model.model_io import check_model_dir
from .catalog import MODEL_FILES
from .errors import RegistryError

logger = logging.getLogger(__name__)

ENV_HOME = "SALTSEG_HOME"
MANIFEST = "saltseg-model.json"


def default_home() -> Path:
    env = os.environ.get(ENV_HOME, "").strip()
    if env:
        return Path(env).expanduser()
    # The data dir, not the cache dir: OS cleaners empty caches, and a re-download is 120 MB.
    return Path(platformdirs.user_data_dir("saltseg", appauthor=False))


def folder_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


class ModelStore:
    def __init__(self, home: Optional[Union[str, Path]] = None) -> None:
        self.home = Path(home).expanduser() if home is not None else default_home()

    @property
    def models_dir(self) -> Path:
        return self.home / "models"

    @property
    def tmp_dir(self) -> Path:
        return self.home / ".tmp"

    def lock_path(self, model_id: str) -> Path:
        return self.home / ".locks" / f"{model_id}.lock"

    def download_dir(self, model_id: str) -> Path:
        return self.tmp_dir / "downloads" / model_id

    def model_dir(self, model_id: str) -> Path:
        return self.models_dir / model_id

    # -- installed (copied) models --------------------------------------------------------------

    def manifest(self, model_id: str) -> Optional[dict]:
        try:
            return json.loads((self.model_dir(model_id) / MANIFEST).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def cached_ids(self) -> list[str]:
        if not self.models_dir.is_dir():
            return []
        return sorted(p.name for p in self.models_dir.iterdir() if p.is_dir() and (p / MANIFEST).is_file())

    def problem(self, model_id: str) -> Optional[str]:
        """Why the installed copy is unusable (missing or truncated file), or None. Only ``stat``
        calls: loading a model must not re-hash 120 MB every time."""
        folder = self.model_dir(model_id)
        manifest = self.manifest(model_id)
        if manifest is None:
            return f"{folder} has no readable {MANIFEST}"
        try:
            check_model_dir(folder)
        except ModelError as error:
            return str(error)
        for name in MODEL_FILES:
            expected = manifest.get("files", {}).get(name, {}).get("size")
            actual = (folder / name).stat().st_size
            if expected is not None and actual != expected:
                return f"{folder / name} has {actual} bytes, {expected} were installed (truncated or modified)"
        return None

    def new_staging(self, model_id: str) -> Path:
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=f"stage-{model_id}-", dir=self.tmp_dir))

    def commit(self, staging: Path, model_id: str, manifest: dict) -> Path:
        """Write the manifest into ``staging`` and rename it to ``models/<id>`` (replacing an older
        copy). Call with the model's lock held. Readers see the old model, nothing, or the new one."""
        manifest = {**manifest, "id": model_id, "installed_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        atomic_write(staging / MANIFEST, lambda tmp: tmp.write_text(json.dumps(manifest, indent=2), encoding="utf-8"))
        target = self.model_dir(model_id)
        target.parent.mkdir(parents=True, exist_ok=True)
        trash = None
        if target.exists():
            # os.replace cannot overwrite a non-empty folder: move the old one aside first.
            trash = Path(tempfile.mkdtemp(prefix=f"trash-{model_id}-", dir=self.tmp_dir))
            os.replace(target, trash / "old")
        os.replace(staging, target)
        if trash is not None:
            shutil.rmtree(trash, ignore_errors=True)
        logger.info("installed model %s in %s", model_id, target)
        return target

    def delete(self, model_id: str) -> bool:
        """Remove ``models/<id>`` and its partial downloads; call with the model's lock held."""
        shutil.rmtree(self.download_dir(model_id), ignore_errors=True)
        target = self.model_dir(model_id)
        if not target.exists():
            return False
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        # Rename first so a half-deleted folder never looks like an installed model.
        trash = Path(tempfile.mkdtemp(prefix=f"trash-{model_id}-", dir=self.tmp_dir))
        os.replace(target, trash / "old")
        shutil.rmtree(trash, ignore_errors=True)
        return True

    def clean_tmp(self, model_id: str) -> None:
        """Drop leftovers of crashed installs of ``model_id`` (staging and trash folders; partial
        downloads stay, to be resumed). Call with the model's lock held: other ids may be busy."""
        if self.tmp_dir.is_dir():
            for item in self.tmp_dir.iterdir():
                # mkdtemp names: "<stage|trash>-<id>-<random without '-'>"
                kind, _, rest = item.name.partition("-")
                if kind in ("stage", "trash") and rest.rpartition("-")[0] == model_id:
                    shutil.rmtree(item, ignore_errors=True)

    # -- registered (user) folders --------------------------------------------------------------

    @property
    def registry_file(self) -> Path:
        return self.home / "registered.json"

    def registered(self) -> dict[str, Path]:
        try:
            data = json.loads(self.registry_file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as error:
            raise RegistryError(f"{self.registry_file} is unreadable ({error}); fix or delete it") from error
        if not isinstance(data, dict):
            raise RegistryError(f"{self.registry_file} must hold a JSON object; fix or delete it")
        return {str(k): Path(v) for k, v in data.items()}

    def save_registered(self, mapping: dict[str, Path]) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        text = json.dumps({k: str(v) for k, v in sorted(mapping.items())}, indent=2)
        atomic_write(self.registry_file, lambda tmp: tmp.write_text(text, encoding="utf-8"))
