"""A pip constraints file that keeps Slicer's own packages as they are during every install the
module starts (PyTorch, light-the-torch, the engine's small pure-Python packages).

Slicer ships its own builds of SimpleITK, numpy, VTK and requests (Slicer's SuperBuild installs
them with pinned versions and writes a ``vtk-*.dist-info`` so that pip sees VTK). A dependency
resolver that "upgrades" one of them breaks Slicer itself, so each install gets a constraints file
pinning the versions found here. Versions are read from package metadata, never by importing.
"""
from __future__ import annotations

import importlib.metadata
import importlib.util
import logging
import shutil
import tempfile
from pathlib import Path
from typing import Optional, Sequence

from saltseg.atomic import atomic_path

logger = logging.getLogger(__name__)

#: Distributions Slicer provides itself and a pip install must never replace.
SLICER_OWN_PACKAGES = ("SimpleITK", "numpy", "vtk", "requests")
CONSTRAINTS_FILE_NAME = "slicer-constraints.txt"


def constraint_lines(packages: Sequence[str] = SLICER_OWN_PACKAGES) -> list[str]:
    """``name==version`` for each installed package; ``name<0`` (nothing can satisfy it: pip stops
    with an error instead) for one that is importable but has no pip metadata, as a Slicer build
    without it; nothing for a package that is not there at all."""
    importlib.invalidate_caches()
    lines = []
    for name in packages:
        try:
            lines.append(f"{name}=={importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            if importlib.util.find_spec(name) is not None:
                lines.append(f"{name}<0")
    return lines


def write_constraints(target: Path, lines: Optional[Sequence[str]] = None) -> Path:
    """Write the constraints file atomically (a half-written file could drop a pin)."""
    lines = constraint_lines() if lines is None else list(lines)
    text = ("# Written by SALT Segmentation: Slicer's own packages stay as Slicer installed them.\n"
            + "".join(f"{line}\n" for line in lines))
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")
    logger.info("pip constraints %s: %s", target, ", ".join(lines) or "none")
    return Path(target)


class ConstraintsFolder:
    """A temporary folder holding the constraints file for one install; :meth:`remove` deletes it
    (also usable as a context manager for a blocking install)."""

    def __init__(self, parent: Optional[str] = None, lines: Optional[Sequence[str]] = None) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="saltseg-pip-", dir=parent))
        try:
            self.path = write_constraints(self.folder / CONSTRAINTS_FILE_NAME, lines)
        except BaseException:
            self.remove()
            raise

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> Path:
        return self.path

    def __exit__(self, *exc_info) -> None:
        self.remove()


def slicer_pip_install_arguments(requirements: Sequence[str], constraints: Path,
                                 packaging_present: bool) -> tuple[list, dict]:
    """Arguments for ``slicer.util.pip_install``: Slicer 5.11+ (``slicer.packaging``) takes
    ``constraints=``; older ones take a list of pip arguments, where ``-c FILE`` does the same."""
    if packaging_present:
        return [list(requirements)], {"constraints": str(constraints)}
    return [[*requirements, "-c", str(constraints)]], {}
