"""Third-party libraries' log chatter kept off the user's terminal while we call them.

pydicom logs its own deprecation notices at WARNING (``'FileDataset.is_little_endian' will be
removed in v4.0``) when rt-utils writes a structure set: nothing a user of ``saltseg`` can act on.
Inside :func:`library_logs_at_debug`, such records of the named libraries go to our logger at
DEBUG instead (there for whoever debugs); ERROR and above pass through unchanged, so a real failure
is never hidden. ITK's warnings (GDCM prints one per file it cannot parse) are switched off while
DICOM is read (:func:`quiet_itk`), and a failed read says only the last line of ITK's message
(:func:`execute_quietly`).
"""
from __future__ import annotations

import contextlib
import logging
from typing import Iterator

import SimpleITK as sitk

from ..errors import InputImageError


class _ToDebug(logging.Filter):
    """Re-logs a library's records below ERROR on ``target`` at DEBUG and drops them there."""

    def __init__(self, target: logging.Logger) -> None:
        super().__init__()
        self.target = target

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.ERROR:
            return True
        self.target.debug("%s %s: %s", record.levelname, record.name, record.getMessage())
        return False


@contextlib.contextmanager
def library_logs_at_debug(target: logging.Logger, *libraries: str) -> Iterator[None]:
    """While inside, the loggers ``libraries`` (e.g. ``"pydicom"``) log below ERROR only to
    ``target`` at DEBUG. A logger's filter sees only records logged on that very logger, which is
    how pydicom logs (one ``pydicom`` logger)."""
    demote = _ToDebug(target)
    loggers = [logging.getLogger(name) for name in libraries]
    for library in loggers:
        library.addFilter(demote)
    try:
        yield
    finally:
        for library in loggers:
            library.removeFilter(demote)


@contextlib.contextmanager
def quiet_itk() -> Iterator[None]:
    """ITK warnings off (GDCM prints one per unreadable file, and "No Series were found")."""
    was = sitk.ProcessObject.GetGlobalWarningDisplay()
    sitk.ProcessObject.SetGlobalWarningDisplay(False)
    try:
        yield
    finally:
        sitk.ProcessObject.SetGlobalWarningDisplay(was)


def execute_quietly(reader, what: str) -> sitk.Image:
    """``reader.Execute()`` without ITK's warnings; its failure as an :class:`InputImageError`
    naming ``what`` and the last line of ITK's message (the earlier ones are file and line noise)."""
    try:
        with quiet_itk():
            return reader.Execute()
    except RuntimeError as error:
        lines = [line.strip() for line in str(error).splitlines() if line.strip()]
        raise InputImageError(f"cannot read {what}: {lines[-1] if lines else 'unreadable'}") from error
