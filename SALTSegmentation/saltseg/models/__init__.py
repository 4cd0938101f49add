"""Model registry: catalogue, verified downloads, install from file, cache management.

``resolve_model_dir`` is what the ``segment`` command and the Slicer module call; ``Registry``
holds everything else (list, download, install, register, remove).
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional, Union

from .cache import ENV_HOME, default_home
from .catalog import DEFAULT_MODEL_ID, ENV_CATALOG, CatalogEntry, ModelFile
from .download import ByteProgress, TransferSettings
from .errors import (CatalogError, ChecksumError, DownloadError, InstallError, LockTimeoutError,
                     ModelNotInstalledError, OfflineError, RegistryError)
from .messages import format_size
from .registry import InstalledModel, Registry

PathLike = Union[str, Path]


def resolve_model_dir(spec: Optional[PathLike], *, catalog_file: Optional[PathLike] = None,
                      home: Optional[PathLike] = None) -> Path:
    """Folder of the model named by ``spec``: a folder with ``model.pt`` + ``config.pkl``, or a
    registry id (``None``: :data:`DEFAULT_MODEL_ID`). Raises :class:`ModelNotInstalledError`
    (saying how to get it) for a known model that is not installed, :class:`RegistryError` for an
    unknown id and :class:`saltseg.errors.ModelError` for a missing or truncated file."""
    return Registry(home, catalog_file=catalog_file).resolve(spec)


def cache_dir(home: Optional[PathLike] = None) -> Path:
    """The folder holding installed models (``$SALTSEG_HOME`` or the platform's user data dir)."""
    return Registry(home).cache_dir()


__all__ = [
    "ByteProgress", "CatalogEntry", "CatalogError", "ChecksumError", "DEFAULT_MODEL_ID", "DownloadError",
    "ENV_CATALOG", "ENV_HOME", "InstallError", "InstalledModel", "LockTimeoutError", "ModelFile",
    "ModelNotInstalledError", "OfflineError", "Registry", "RegistryError", "TransferSettings", "cache_dir",
    "default_home", "format_size", "resolve_model_dir",
]
