"""Detached headers (``.mhd``, ``.nhdr``) and the data files they name.

A detached header is one file of two (or more): ``ct.mhd`` names ``ct.raw`` (or any other file, a
list of slice files, a numbered pattern). For the checks that keep outputs off inputs, an input
header's data files are inputs too, and an output header's data file is an output too: otherwise
``segment scan.mhd -o labels.mhd`` would overwrite ``labels.raw`` when ``scan.mhd`` keeps its voxels
there.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Optional, Union

DETACHED_SUFFIXES = (".mhd", ".nhdr")
#: Headers are short; a data file named beyond this is not read (the check is then skipped).
_HEADER_BYTES = 1 << 16
_PATTERN_FILES_MAX = 100_000


def is_detached_header(path: Union[str, Path]) -> bool:
    return str(path).lower().endswith(DETACHED_SUFFIXES)


def written_data_files(header: Union[str, Path], compress: Optional[bool] = None) -> list[Path]:
    """The data file SimpleITK (ITK's MetaImage and NRRD writers) puts beside ``header`` when
    writing it compressed or not (``None``: both names): ``a.mhd`` → ``a.zraw`` / ``a.raw``;
    ``a.nhdr`` → ``a.raw.gz`` / ``a.raw``; nothing for other formats."""
    header = Path(header)
    name = header.name
    if name.lower().endswith(".mhd"):
        stem, compressed = name[:-4], ".zraw"
    elif name.lower().endswith(".nhdr"):
        stem, compressed = name[:-5], ".raw.gz"
    else:
        return []
    suffixes = {True: [compressed], False: [".raw"], None: [compressed, ".raw"]}[compress]
    return [header.with_name(stem + suffix) for suffix in suffixes]


def named_data_files(header: Union[str, Path]) -> list[Path]:
    """The data files an existing detached header names (relative names resolved against its
    folder); [] when ``header`` is no detached header, cannot be read, or keeps its data inside."""
    header = Path(header)
    if not is_detached_header(header):
        return []
    try:
        with header.open("rb") as stream:
            text = stream.read(_HEADER_BYTES).decode("latin-1")
    except OSError:
        return []
    lines = text.splitlines()
    if header.name.lower().endswith(".mhd"):
        names = _metaimage_names(lines)
    else:
        names = _nrrd_names(lines)
    folder = header.parent
    return [folder / name if not Path(name).is_absolute() else Path(name) for name in names]


def _metaimage_names(lines: list[str]) -> list[str]:
    for index, line in enumerate(lines):
        key, separator, value = line.partition("=")
        if separator and key.strip() == "ElementDataFile":
            return _names(value.strip(), lines[index + 1:], local_word="LOCAL")
    return []


def _nrrd_names(lines: list[str]) -> list[str]:
    for index, line in enumerate(lines):
        if not line.strip():
            break  # the end of the header: an attached NRRD
        key, separator, value = line.partition(":")
        if separator and key.strip().lower() in ("data file", "datafile"):
            return _names(value.strip(), lines[index + 1:])
    return []


def _names(value: str, following: list[str], local_word: Optional[str] = None) -> list[str]:
    """A data-file field's value: one name, ``LIST`` (names on the following lines) or a numbered
    pattern (``slice%03d.raw 1 40 1``)."""
    if not value or (local_word is not None and value.upper() == local_word):
        return []
    words = value.split()
    if words[0].upper() == "LIST":
        return [line.strip() for line in following if line.strip()]
    if "%" in words[0] and len(words) >= 3:
        return _pattern_names(words)
    return [value]


def _pattern_names(words: list[str]) -> list[str]:
    try:
        first, last = int(words[1]), int(words[2])
        step = int(words[3]) if len(words) > 3 and re.fullmatch(r"-?\d+", words[3]) else 1
        if step == 0 or abs(last - first) // abs(step) > _PATTERN_FILES_MAX:
            return []
        return [words[0] % number for number in range(first, last + (1 if step > 0 else -1), step)]
    except (ValueError, TypeError):
        return []


def stale_data_files(header: Union[str, Path], previous: list[Path], written: list[Path]) -> list[Path]:
    """The data files an overwritten ``header`` named before that the new one no longer uses, where
    they carry one of the names this engine writes for it (an uncompressed ``a.raw`` left beside the
    new ``a.zraw``); any other file the old header named is not touched."""
    ours = {path.name for path in written_data_files(header)}
    kept = {Path(path).resolve() for path in written}
    return [path for path in previous
            if path.name in ours and path.parent.resolve() == Path(header).parent.resolve()
            and path.resolve() not in kept and path.is_file()]
