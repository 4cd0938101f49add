"""Errors of the model registry; all derive from :class:`saltseg.errors.SaltSegError` so the CLI
and the Slicer module show ``str(error)`` to the user as is."""
from __future__ import annotations

from ..errors import SaltSegError


class RegistryError(SaltSegError):
    """An unknown model id, a bad id, or a registry operation that cannot be done."""


class CatalogError(RegistryError):
    """A catalogue file is missing, not JSON, or does not follow ``models.schema.json``."""


class ModelNotInstalledError(RegistryError):
    """The model is in the catalogue but not installed; the message says how to get it."""


class DownloadError(SaltSegError):
    """A transfer failed (HTTP error, timeout, dropped connection) after all retries."""


class OfflineError(DownloadError):
    """The server cannot be reached at all (no network, DNS failure, connection refused)."""


class ChecksumError(SaltSegError):
    """A file's size or sha256 differs from the catalogue; nothing was installed."""


class InstallError(SaltSegError):
    """Files given to "install from file" are incomplete, unsafe (zip path traversal) or unreadable."""


class LockTimeoutError(SaltSegError):
    """Another process holds the model's lock for longer than we are willing to wait."""
