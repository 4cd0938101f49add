"""Exceptions raised by the engine.

Every error a user can cause derives from :class:`SaltSegError`, so front ends (CLI, Slicer
module) can show ``str(error)`` as is and treat anything else as a bug.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional


class SaltSegError(Exception):
    """Base class of all expected, user-facing errors."""


class TreeError(SaltSegError):
    """A label tree is malformed (single child, cycle, duplicate path, bad matrix...)."""


class ModelError(SaltSegError):
    """A model folder, ``model.pt`` or ``config.pkl`` is missing, corrupt or incompatible."""


class UnsafeConfigError(ModelError):
    """``config.pkl`` references a Python global outside the allow-list."""


class DeviceError(SaltSegError):
    """The requested compute device is unavailable or the model cannot run on it."""


class OutOfMemoryError(SaltSegError):
    """The device ran out of memory during inference."""


class InsufficientMemoryError(SaltSegError):
    """The estimated memory need exceeds what is available; raised before any work starts."""


class InputImageError(SaltSegError):
    """The input image is missing, unreadable or unsuitable (2D, 4D, empty, NaN...)."""


class OptionError(SaltSegError, ValueError):
    """A run option has a value the engine cannot take (NaN, out of range, not one of its choices)
    or a name it does not have; the message names the option and what it takes."""


class OutputError(SaltSegError):
    """The output cannot be written (bad extension, unwritable folder...)."""


class WriteFailedError(OutputError, OSError):
    """Writing a file failed (no space left, file too large, quota exceeded, I/O error); the file
    was left as it was. Also an :class:`OSError`, for callers that then try another location."""

    def __init__(self, message: str, target: Optional[Path] = None, reason: str = "",
                 errno_code: Optional[int] = None) -> None:
        super().__init__(message)
        self.target = target  # the file that could not be written
        self.reason = reason  # why, in the system's words ("No space left on device")
        self.errno = errno_code

    def __reduce__(self):  # picklable: a Dask worker may send it back
        return type(self), (str(self), self.target, self.reason, self.errno)


class RequestError(SaltSegError):
    """A front end sent the engine service a request it cannot accept (not JSON, a missing or
    unknown field, a value of the wrong type): a client mistake, not an engine failure."""


class Cancelled(SaltSegError):
    """The user cancelled the run; nothing was written."""


class MappingError(SaltSegError):
    """A name scheme or mapping file is malformed, or a structure cannot be organised."""


# The model registry's errors (saltseg.models re-exports them): here, so that every user-facing
# error class is one import away without importing the registry (which loads torch).


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
