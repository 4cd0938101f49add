"""What to segment: INPUTs (files, folders searched recursively, CSV lists) → one :class:`Case` each.

A case's name is its output path inside OUTDIR without the suffix, so OUTDIR mirrors the input
layout: ``cohort/site1/ct.nii.gz`` given as ``cohort`` becomes case ``site1/ct`` and
``OUTDIR/site1/ct.seg.nrrd``. Every DICOM series is one case named after its folder.
"""
from __future__ import annotations

import csv
import logging
import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Iterable, Optional, Sequence, Union

from ..errors import InputImageError
from .dicom_series import find_series

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".nii.gz", ".nii", ".nrrd", ".nhdr", ".mha", ".mhd")
#: Files in an input folder that are never CTs (our own outputs, tables, pictures).
_NOT_INPUT_SUFFIXES = (".seg.nrrd", ".labels.json", ".json", ".csv", ".txt", ".md", ".png", ".jpg", ".pdf",
                       ".raw", ".zraw", ".gz", ".zip", ".py", ".seg.dcm")


@dataclass(frozen=True)
class Case:
    """One CT to segment."""

    name: str  # POSIX-style relative path, unique in a run: the output path without its suffix
    input: str  # the image file, or the DICOM series' folder
    dicom_files: tuple[str, ...] = ()  # the series' files in slice order; empty for an image file
    series_uid: str = ""

    @property
    def is_dicom(self) -> bool:
        return bool(self.dicom_files)

    def input_fingerprint(self) -> str:
        """Size and modification time of the input: a changed input is segmented again."""
        files = self.dicom_files or (self.input,)
        try:
            stats = [os.stat(name) for name in files]
        except OSError:
            return "missing"
        return f"{len(stats)}:{sum(s.st_size for s in stats)}:{max(s.st_mtime_ns for s in stats)}"


def image_stem(name: str) -> Optional[str]:
    """``ct.nii.gz`` → ``ct``; None for a file that is not a CT image file."""
    lower = name.lower()
    if lower.endswith(".seg.nrrd"):
        return None
    for suffix in IMAGE_SUFFIXES:
        if lower.endswith(suffix):
            return name[: -len(suffix)]
    return None


def _join(*parts: str) -> str:
    kept = [p for p in parts if p and p != "."]
    return str(PurePosixPath(*kept)) if kept else ""  # "", not ".": a series folder given itself is named after it


def _check_case_name(name: str, where: str) -> str:
    path = PurePosixPath(name.replace("\\", "/"))
    if not name or path.is_absolute() or ".." in path.parts:
        raise InputImageError(f"{where}: case name {name!r} must be a relative path without '..'")
    return str(path)


def discover_folder(root: Path, prefix: str = "", exclude: Optional[Path] = None) -> list[Case]:
    """Every image file and every DICOM series below ``root``; hidden entries and ``exclude``
    (the output folder, when it lies inside an input folder) are left out."""
    cases = []
    excluded = exclude.resolve() if exclude is not None else None
    for dirpath, dirnames, filenames in os.walk(root):
        folder = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".")
                             and (excluded is None or (folder / d).resolve() != excluded))
        relative = folder.relative_to(root).as_posix()
        others = []
        for filename in sorted(f for f in filenames if not f.startswith(".")):
            stem = image_stem(filename)
            if stem is not None:
                cases.append(Case(_join(prefix, relative, stem), str(folder / filename)))
            elif not filename.lower().endswith(_NOT_INPUT_SUFFIXES):
                others.append(filename)
        if others:  # only folders with candidate files are handed to GDCM (it reads every header)
            cases += _series_cases(folder, _join(prefix, relative) or root.name)
    return cases


def _series_cases(folder: Path, base: str) -> list[Case]:
    series = find_series(folder)
    if len(series) > 1:
        logger.info("%s holds %d DICOM series: one case each", folder, len(series))
    return [Case(base if len(series) == 1 else _join(base, uid), str(folder), files, uid)
            for uid, files in sorted(series.items())]


def read_case_list(csv_file: Path, exclude: Optional[Path] = None) -> list[Case]:
    """A CSV with an ``input`` column (file or folder, relative to the CSV's folder) and an optional
    ``case`` column naming the case (for a folder: the prefix of its cases)."""
    with open(csv_file, newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        if reader.fieldnames is None or "input" not in reader.fieldnames:
            raise InputImageError(f"{csv_file}: a case list needs a header row with an 'input' column "
                                  f"(and optionally 'case'); found {reader.fieldnames}")
        rows = list(reader)
    cases = []
    for number, row in enumerate(rows, start=2):
        text = (row.get("input") or "").strip()
        if not text:
            raise InputImageError(f"{csv_file}, line {number}: empty 'input'")
        path = Path(text).expanduser()
        path = path if path.is_absolute() else csv_file.parent / path
        name = (row.get("case") or "").strip()
        where = f"{csv_file}, line {number}"
        cases += discover_input(path, _check_case_name(name, where) if name else None, exclude, where)
    return cases


def discover_input(path: Path, name: Optional[str] = None, exclude: Optional[Path] = None,
                   where: str = "") -> list[Case]:
    """The cases of one INPUT: a CT file, a folder, or a ``.csv`` case list."""
    if not path.exists():
        if not path.is_symlink():
            raise InputImageError(f"{where + ': ' if where else ''}input {path} does not exist")
        # A link that loops or leads nowhere is there, by name: a case that fails with its reason
        # while the others go on, as a link found in a folder does.
        return [Case(name or image_stem(path.name) or path.name, str(path))]
    if path.is_dir():
        return discover_folder(path, name or "", exclude)
    if path.suffix.lower() == ".csv":
        return read_case_list(path, exclude)
    stem = image_stem(path.name)
    # A file with another suffix is still tried (and fails as a case, with its reason) when named explicitly.
    return [Case(name or stem or path.name, str(path))]


def discover_cases(inputs: Sequence[Union[str, Path]], exclude: Optional[Path] = None) -> list[Case]:
    """All cases of all INPUTs, checked to have unique names (= unique output paths)."""
    cases: list[Case] = []
    for item in inputs:
        cases += discover_input(Path(item).expanduser().absolute(), exclude=exclude)
    _check_unique(cases)
    return cases


def _check_unique(cases: Iterable[Case]) -> None:
    seen: dict[str, Case] = {}
    for case in cases:
        other = seen.setdefault(case.name.lower(), case)  # case-insensitive file systems collide too
        if other is not case:
            raise InputImageError(
                f"two inputs would both be written as case '{case.name}': {other.input} and {case.input}; "
                "give them distinct names in a CSV case list (columns input,case)")
