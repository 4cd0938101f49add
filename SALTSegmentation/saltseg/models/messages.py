"""What the model registry tells users about catalogue entries: sizes, how to get a model
(online and offline), and which models it knows."""
from __future__ import annotations

from typing import Iterable

from .cache import ModelStore
from .catalog import CatalogEntry


def format_size(size: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000  # type: ignore[assignment]
    return ""  # unreachable


def offline_help(entry: CatalogEntry) -> str:
    lines = [f"Without internet access on this computer, download these files on another machine "
             f"({format_size(entry.total_size)} in all):"]
    lines += [f"    {f.url}\n      ({f.size} bytes, sha256 {f.sha256})" for f in entry.files]
    lines += ["put them in one folder (or a .zip), copy it here and run:",
              f"    saltseg models install PATH --as {entry.id}",
              "(in 3D Slicer: the SALT module's \"Install from file\"). Behind a proxy, set https_proxy."]
    return "\n".join(lines)


def missing_bundle_message(entry: CatalogEntry) -> str:
    return (f"model '{entry.id}' ships inside the saltseg package, but its folder {entry.bundled_dir} is missing "
            "or incomplete; reinstall saltseg (pip install --force-reinstall saltseg)")


def not_installed_message(entry: CatalogEntry) -> str:
    if not all(f.url for f in entry.files):
        return missing_bundle_message(entry)
    return (f"model '{entry.id}' ({entry.title}) is not installed. Download it "
            f"({format_size(entry.total_size)}) with:\n    saltseg models download {entry.id}\n"
            f"(in 3D Slicer: the SALT module's model section). {offline_help(entry)}")


def known_ids_text(catalog: Iterable[str], store: ModelStore) -> str:
    known = sorted(set(catalog) | set(store.cached_ids()) | set(store.registered()))
    return f"known models: {', '.join(known)}" if known else "no models are known"
