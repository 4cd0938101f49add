"""The model registry: catalogue + store + downloads + installs, behind one object."""
from __future__ import annotations

import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence, Union

from ..errors import Cancelled, ModelError
from ..model.model_io import check_model_dir
from ..progress import CancelToken
from .cache import ModelStore, folder_size
from ..model.run_defaults import RUN_DEFAULTS_FILE, RunDefaults, read_run_defaults, write_run_defaults
from .catalog import (DEFAULT_MODEL_ID, MODEL_FILES, CatalogEntry, catalog_sources, check_model_id,
                      differs_from_catalog, load_catalog)
from .download import ByteProgress, ProgressMeter, TransferSettings, fetch_file
from .errors import DownloadError, ModelNotInstalledError, RegistryError
from .install import (check_model_files, copy_sources, describe_files, match_entry,
                      verify_against_entry)
from .lock import ProcessLock
from .messages import format_size, known_ids_text, missing_bundle_message, not_installed_message, offline_help
from .resolve import resolve_with

logger = logging.getLogger(__name__)

PathLike = Union[str, Path]


@dataclass(frozen=True)
class InstalledModel:
    id: str
    path: Path
    size_bytes: int
    kind: str                      # "cached" (copied into the cache), "registered" (user folder), "bundled"
    title: str = ""
    problem: Optional[str] = None  # why it cannot be loaded (missing/truncated file), None when usable
    outdated: bool = False         # the catalogue now lists other files for this id

    @property
    def registered(self) -> bool:
        return self.kind == "registered"

#: The transfer settings a Registry gets unless told (immutable, so one instance serves all).
DEFAULT_TRANSFER_SETTINGS = TransferSettings()


class Registry:
    """Models known (catalogue) and installed (cache folder, registered folders).

    ``home`` overrides ``$SALTSEG_HOME`` (the Slicer module passes its setting here);
    ``catalog_file`` adds a catalogue on top of the bundled one and ``$SALTSEG_CATALOG``.
    """

    def __init__(self, home: Optional[PathLike] = None, *, catalog_file: Optional[PathLike] = None,
                 settings: TransferSettings = DEFAULT_TRANSFER_SETTINGS, lock_timeout: Optional[float] = None) -> None:
        self.store = ModelStore(home)
        self.catalog_file = catalog_file
        self.settings = settings
        self.lock_timeout = lock_timeout
        self._catalog: Optional[dict[str, CatalogEntry]] = None

    # -- queries ---------------------------------------------------------------------------------

    def cache_dir(self) -> Path:
        return self.store.home

    @property
    def catalog(self) -> dict[str, CatalogEntry]:
        if self._catalog is None:
            self._catalog = load_catalog(catalog_sources(self.store.home, self.catalog_file))
        return self._catalog

    def list_catalog(self) -> list[CatalogEntry]:
        return list(self.catalog.values())

    def entry(self, model_id: str) -> CatalogEntry:
        if model_id not in self.catalog:
            raise RegistryError(f"unknown model '{model_id}'; {self._known_ids_text()}")
        return self.catalog[model_id]

    def _known_ids_text(self) -> str:
        return known_ids_text(self.catalog, self.store)

    def _outdated(self, model_id: str) -> bool:
        return differs_from_catalog(self.catalog.get(model_id), self.store.manifest(model_id))

    def list_installed(self) -> list[InstalledModel]:
        found: list[InstalledModel] = []
        for model_id in self.store.cached_ids():
            path = self.store.model_dir(model_id)
            found.append(InstalledModel(model_id, path, folder_size(path), "cached", self._title(model_id),
                                        self.store.problem(model_id), self._outdated(model_id)))
        for model_id, path in self.store.registered().items():
            problem = None
            try:
                check_model_dir(path)
            except ModelError as error:
                problem = str(error)
            size = sum((path / n).stat().st_size for n in MODEL_FILES if (path / n).is_file())
            found.append(InstalledModel(model_id, path, size, "registered", self._title(model_id), problem))
        for entry in self.catalog.values():
            if entry.bundled and entry.bundled_dir.is_dir():
                found.append(InstalledModel(entry.id, entry.bundled_dir, folder_size(entry.bundled_dir),
                                            "bundled", entry.title))
        return sorted(found, key=lambda m: m.id)

    def _title(self, model_id: str) -> str:
        entry = self.catalog.get(model_id)
        return entry.title if entry else ""

    # -- changes ---------------------------------------------------------------------------------

    def _lock(self, name: str, cancel: Optional[CancelToken] = None) -> ProcessLock:
        return ProcessLock(self.store.lock_path(name), timeout=self.lock_timeout, cancel=cancel,
                           what=f"model '{name}'" if not name.startswith("_") else "the model list")

    def _usable_cached(self, model_id: str) -> Optional[Path]:
        if self.store.manifest(model_id) is None or self.store.problem(model_id) or self._outdated(model_id):
            return None
        return self.store.model_dir(model_id)

    def download(self, model_id: str, progress: Optional[ByteProgress] = None,
                 cancel: Optional[CancelToken] = None) -> Path:
        """Download, verify and install a catalogue model; returns its folder. A model already
        installed intact is returned at once; a damaged or outdated one is replaced."""
        entry = self.entry(model_id)
        if entry.bundled and entry.bundled_dir.is_dir():
            return entry.bundled_dir
        if not all(f.url for f in entry.files):
            raise RegistryError(missing_bundle_message(entry))
        registered = self.store.registered().get(model_id)
        if registered is not None:
            return registered
        ready = self._usable_cached(model_id)
        if ready is not None:
            return ready
        with self._lock(model_id, cancel):
            ready = self._usable_cached(model_id)  # another process may have finished meanwhile
            if ready is not None:
                return ready
            self.store.clean_tmp(model_id)
            meter = ProgressMeter(entry.total_size, progress)
            parts = self.store.download_dir(model_id)
            try:
                for item in entry.files:
                    fetch_file(item.url, parts / f"{item.name}.part", item.size, item.sha256,
                               settings=self.settings, meter=meter, cancel=cancel)
            except DownloadError as error:
                raise type(error)(f"cannot download model '{model_id}': {error}\n\n{offline_help(entry)}") from error
            except Cancelled:
                # The partial files stay in .tmp/downloads so the next attempt resumes.
                raise Cancelled(f"download of model '{model_id}' cancelled; nothing was installed") from None
            staging = self.store.new_staging(model_id)
            try:
                for item in entry.files:
                    os.replace(parts / f"{item.name}.part", staging / item.name)
                keep_run_defaults(staging, [], entry)
                files = {f.name: {"size": f.size, "sha256": f.sha256} for f in entry.files}
                path = self.store.commit(staging, model_id, {"version": entry.version, "source": "download",
                                                             "files": files})
            except BaseException:
                shutil.rmtree(staging, ignore_errors=True)
                raise
            shutil.rmtree(parts, ignore_errors=True)
            return path

    def install_from_path(self, path: Union[PathLike, Sequence[PathLike]], as_id: Optional[str] = None,
                          cancel: Optional[CancelToken] = None) -> Path:
        """Install from a folder with ``model.pt`` + ``config.pkl``, the two files, or a zip of
        them. Files of a catalogue model are checked against its sizes and sha256; without
        ``as_id`` the files must be a catalogue model (recognised by sha256)."""
        paths = [path] if isinstance(path, (str, os.PathLike)) else list(path)
        if as_id is not None:
            check_model_id(as_id)
        entry = self.catalog.get(as_id) if as_id else None
        sizes = {f.name: f.size for f in entry.files} if entry else {}
        staging = self.store.new_staging("install")
        try:
            origin = copy_sources(paths, staging, sizes, cancel)
            files = describe_files(staging, cancel)
            if as_id is None:
                entry = match_entry(files, list(self.catalog.values()))
                if entry is None:
                    raise RegistryError(f"{origin} is not a model from the catalogue; give it a name "
                                        "with --as ID (Python: as_id=...) to install it as a custom model")
            if entry is not None:
                verify_against_entry(files, entry, origin)
            else:
                check_model_files(staging)
            keep_run_defaults(staging, paths, entry)
            model_id = as_id or entry.id  # type: ignore[union-attr]
            with self._lock(model_id, cancel):
                if model_id in self.store.registered():
                    raise RegistryError(f"'{model_id}' is registered to the folder "
                                        f"{self.store.registered()[model_id]}; "
                                        f"run `saltseg models remove {model_id}` first or choose another id")
                return self.store.commit(staging, model_id, {"version": entry.version if entry else None,
                                                             "source": origin, "files": files})
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise

    def register_folder(self, path: PathLike, as_id: str) -> None:
        """Use a folder with ``model.pt`` + ``config.pkl`` in place under the id ``as_id``."""
        check_model_id(as_id)
        folder = Path(path).expanduser().resolve()
        check_model_dir(folder)
        check_model_files(folder)
        entry = self.catalog.get(as_id)
        if entry is not None:
            verify_against_entry(describe_files(folder), entry, str(folder))
        with self._lock("_registered"):
            if self.store.manifest(as_id) is not None:
                raise RegistryError(f"a model '{as_id}' is already installed in {self.store.model_dir(as_id)}; "
                                    f"run `saltseg models remove {as_id}` first or choose another id")
            mapping = self.store.registered()
            mapping[as_id] = folder
            self.store.save_registered(mapping)
        logger.info("registered %s as model %s", folder, as_id)

    def remove(self, model_id: str) -> None:
        """Delete a cached model, or forget a registered folder (the folder itself is kept)."""
        removed = False
        with self._lock("_registered"):
            mapping = self.store.registered()
            if mapping.pop(model_id, None) is not None:
                self.store.save_registered(mapping)
                removed = True
        with self._lock(model_id):
            removed = self.store.delete(model_id) or removed
        if not removed:
            installed = sorted({m.id for m in self.list_installed() if m.kind != "bundled"})
            raise RegistryError(f"model '{model_id}' is not installed"
                                + (f"; installed: {', '.join(installed)}" if installed else ""))

    def remove_all(self) -> list[str]:
        """Remove every cached model and registration; returns their ids."""
        ids = sorted(set(self.store.cached_ids()) | set(self.store.registered()))
        for model_id in ids:
            self.remove(model_id)
        return ids

    # -- resolution ------------------------------------------------------------------------------

    def resolve(self, spec: Optional[PathLike]) -> Path:
        return resolve_with(self.store, lambda: self.catalog, spec)


def keep_run_defaults(staging: Path, sources: Sequence[PathLike], entry: Optional[CatalogEntry]) -> None:
    """Give an installed model the run settings it was certified with: the source folder's
    ``inference.json`` (checked), else its catalogue entry's window placement."""
    folder = Path(sources[0]).expanduser() if len(sources) == 1 else None
    if folder is not None and (folder / RUN_DEFAULTS_FILE).is_file():
        read_run_defaults(folder)  # a bad file fails the install, naming the problem
        shutil.copyfile(folder / RUN_DEFAULTS_FILE, staging / RUN_DEFAULTS_FILE)
    elif entry is not None and entry.window_placement != RunDefaults().window_placement:
        write_run_defaults(staging, RunDefaults(window_placement=entry.window_placement),
                           why=f"catalogue entry of '{entry.id}'")


__all__ = ["DEFAULT_MODEL_ID", "InstalledModel", "ModelNotInstalledError", "Registry", "format_size",
           "not_installed_message", "offline_help"]
