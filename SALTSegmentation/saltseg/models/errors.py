"""Errors of the model registry; all derive from :class:`saltseg.errors.SaltSegError` so the CLI
and the Slicer module show ``str(error)`` to the user as is. Declared in :mod:`saltseg.errors`,
with every other user-facing error, so a front end reaches them without importing the registry."""
from __future__ import annotations

from ..errors import (CatalogError, ChecksumError, DownloadError, InstallError, LockTimeoutError,
                      ModelNotInstalledError, OfflineError, RegistryError)

__all__ = ["CatalogError", "ChecksumError", "DownloadError", "InstallError", "LockTimeoutError",
           "ModelNotInstalledError", "OfflineError", "RegistryError"]
