"""Install from file: a folder with ``model.pt`` + ``config.pkl``, the two files, or a zip of them.

Zips come from e-mail, USB sticks and hospital file shares, so they are treated as hostile: any
member with an absolute path, a drive letter, a ``..`` component or a symlink refuses the whole
archive, and only the two model files are extracted, by streaming with a size cap (no
``extractall``).
"""
from __future__ import annotations

import shutil
import stat
import zipfile
from pathlib import Path, PurePosixPath
from typing import Optional, Sequence, Union

from ..errors import ModelError
from ..model.model_io import CONFIG_FILE, MODEL_FILE, read_config
from ..progress import CancelToken
from .catalog import MODEL_FILES, CatalogEntry
from .download import sha256_of
from .errors import ChecksumError, InstallError

PathLike = Union[str, Path]
# Without a catalogue size to hold a zip member to, refuse absurd sizes (zip bombs).
_MAX_UNKNOWN_MEMBER = 8 << 30


def _unsafe_reason(info: zipfile.ZipInfo) -> Optional[str]:
    name = info.filename
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        return "an absolute path"
    if ".." in PurePosixPath(name.replace("\\", "/")).parts:
        return "a '..' path component"
    if stat.S_ISLNK(info.external_attr >> 16):
        return "a symbolic link"
    return None


def _zip_members(archive: zipfile.ZipFile, source: Path) -> dict[str, zipfile.ZipInfo]:
    found: dict[str, list[zipfile.ZipInfo]] = {name: [] for name in MODEL_FILES}
    for info in archive.infolist():
        reason = _unsafe_reason(info)
        if reason:
            raise InstallError(f"refusing {source}: member {info.filename!r} has {reason}")
        parts = PurePosixPath(info.filename.replace("\\", "/")).parts
        if info.is_dir() or not parts or parts[0] == "__MACOSX":  # macOS Finder adds resource forks
            continue
        if parts[-1] in found:
            found[parts[-1]].append(info)
    for name, infos in found.items():
        if not infos:
            raise InstallError(f"{source} contains no {name}; it must hold {MODEL_FILE} and {CONFIG_FILE}")
        if len(infos) > 1:
            raise InstallError(f"{source} contains {len(infos)} files named {name}; zip one model at a time")
    return {name: infos[0] for name, infos in found.items()}


def _extract(archive: zipfile.ZipFile, info: zipfile.ZipInfo, dest: Path, limit: int,
             cancel: Optional[CancelToken]) -> None:
    written = 0
    with archive.open(info) as src, dest.open("wb") as out:
        for block in iter(lambda: src.read(1 << 20), b""):
            if cancel is not None:
                cancel.raise_if_cancelled()
            written += len(block)
            if written > limit:
                raise InstallError(f"{info.filename} in the zip is larger than the expected {limit} bytes")
            out.write(block)


def copy_sources(paths: Sequence[PathLike], staging: Path, entry_sizes: dict[str, int],
                 cancel: Optional[CancelToken] = None) -> str:
    """Put ``model.pt`` and ``config.pkl`` from ``paths`` into ``staging``; return a description
    of the source. ``entry_sizes`` caps zip members when the model is known."""
    sources = [Path(p).expanduser() for p in paths]
    for path in sources:
        if not path.exists():
            raise InstallError(f"{path} does not exist")
    if len(sources) == 1 and sources[0].is_file() and zipfile.is_zipfile(sources[0]):
        try:
            with zipfile.ZipFile(sources[0]) as archive:
                for name, info in _zip_members(archive, sources[0]).items():
                    _extract(archive, info, staging / name, entry_sizes.get(name, _MAX_UNKNOWN_MEMBER), cancel)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError) as error:
            raise InstallError(f"cannot read zip {sources[0]}: {error}") from error
        return str(sources[0])
    if len(sources) == 1 and sources[0].is_dir():
        files = {name: sources[0] / name for name in MODEL_FILES}
        missing = [name for name, path in files.items() if not path.is_file()]
        if missing:
            raise InstallError(f"folder {sources[0]} has no {' and no '.join(missing)}")
    elif len(sources) == 2 and all(p.is_file() for p in sources):
        # Browsers rename downloads ("model (1).pt"), so go by extension, not by exact name.
        by_suffix = {p.suffix.lower(): p for p in sources}
        if set(by_suffix) != {".pt", ".pkl"}:
            raise InstallError(f"give one .pt file ({MODEL_FILE}) and one .pkl file ({CONFIG_FILE}), "
                               f"got {sources[0].name} and {sources[1].name}")
        files = {MODEL_FILE: by_suffix[".pt"], CONFIG_FILE: by_suffix[".pkl"]}
    else:
        raise InstallError(
            f"cannot install from {', '.join(map(str, sources))}: give a folder containing {MODEL_FILE} "
            f"and {CONFIG_FILE}, the two files, or a .zip of them"
        )
    for name, path in files.items():
        if cancel is not None:
            cancel.raise_if_cancelled()
        try:
            shutil.copyfile(path, staging / name)
        except OSError as error:
            raise InstallError(f"cannot copy {path}: {error.strerror or error}") from error
    return ", ".join(str(p) for p in sources)


def describe_files(folder: Path, cancel: Optional[CancelToken] = None) -> dict[str, dict]:
    return {name: {"size": (folder / name).stat().st_size, "sha256": sha256_of(folder / name, cancel)}
            for name in MODEL_FILES}


def verify_against_entry(files: dict[str, dict], entry: CatalogEntry, origin: str) -> None:
    for item in entry.files:
        actual = files[item.name]
        if actual["size"] != item.size or actual["sha256"] != item.sha256:
            raise ChecksumError(
                f"{item.name} from {origin} is not the file of model '{entry.id}' ({entry.version}): "
                f"it has {actual['size']} bytes and sha256 {actual['sha256']}, the catalogue expects "
                f"{item.size} bytes and sha256 {item.sha256} (incomplete download or another version); "
                "nothing was installed"
            )


def check_model_files(folder: Path) -> None:
    """Cheap format check for models without catalogue checksums: config.pkl must parse (safely)
    and model.pt must be a TorchScript archive (a zip)."""
    for name in MODEL_FILES:
        if (folder / name).stat().st_size == 0:
            raise InstallError(f"{name} is empty (interrupted download or copy?)")
    if not zipfile.is_zipfile(folder / MODEL_FILE):
        raise InstallError(f"{MODEL_FILE} is not a TorchScript archive (truncated file, or not a SALT export)")
    try:
        read_config(folder / CONFIG_FILE)
    except ModelError as error:
        raise InstallError(f"not a SALT model: {error}") from error


def match_entry(files: dict[str, dict], entries: Sequence[CatalogEntry]) -> Optional[CatalogEntry]:
    for entry in entries:
        if all(files[f.name]["sha256"] == f.sha256 for f in entry.files):
            return entry
    return None
