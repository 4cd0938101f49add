"""Exceptions raised by the engine.

Every error a user can cause derives from :class:`SaltSegError`, so front ends (CLI, Slicer
module) can show ``str(error)`` as is and treat anything else as a bug.
"""
from __future__ import annotations


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


class OutputError(SaltSegError):
    """The output cannot be written (bad extension, unwritable folder...)."""


class RequestError(SaltSegError):
    """A front end sent the engine service a request it cannot accept (not JSON, a missing or
    unknown field, a value of the wrong type): a client mistake, not an engine failure."""


class Cancelled(SaltSegError):
    """The user cancelled the run; nothing was written."""


class MappingError(SaltSegError):
    """A name scheme or mapping file is malformed, or a structure cannot be organised."""
