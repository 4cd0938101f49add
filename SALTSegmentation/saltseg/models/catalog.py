"""The model catalogue: the bundled ``resources/models.json`` plus user catalogue files."""
from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Optional, Union, cast

from ..model.model_io import CONFIG_FILE, MODEL_FILE
from .errors import CatalogError, RegistryError
from .schema import schema_errors

logger = logging.getLogger(__name__)

RESOURCES = Path(__file__).resolve().parents[1] / "resources"
BUNDLED_CATALOG = RESOURCES / "models.json"
SCHEMA_FILE = RESOURCES / "models.schema.json"
#: Folder of models whose entry says ``"bundled": true`` (one sub-folder per id).
BUNDLED_MODELS = RESOURCES / "models"
ENV_CATALOG = "SALTSEG_CATALOG"
DEFAULT_MODEL_ID = "salt-foobar-31"
#: the demonstration model that ships inside the package (trained on phantoms only)
DEMO_MODEL_ID = "salt-phantom-demo"
# Ids become folder names: lower-case, no separators, no leading dot (so never "." or "..").
MODEL_ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
MODEL_FILES = (MODEL_FILE, CONFIG_FILE)


def check_model_id(model_id: str) -> str:
    if not isinstance(model_id, str) or not MODEL_ID_PATTERN.match(model_id):
        raise RegistryError(
            f"invalid model id {model_id!r}: use 1-64 lower-case letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return model_id


@dataclass(frozen=True)
class ModelFile:
    name: str
    url: str  # empty for a bundled model's file
    size: int
    sha256: str


@dataclass(frozen=True)
class CatalogEntry:
    id: str
    title: str
    description: str
    version: str
    license: str
    citation: str
    format: str
    label_tree: str
    label_tree_nodes: int
    label_tree_leaves: int
    roi_size: tuple[int, int, int]
    voxel_spacing: tuple[float, float, float]
    min_memory_mb: int
    bundled: bool
    files: tuple[ModelFile, ...]
    homepage: str = ""
    #: the window placement the model was certified with (see saltseg.model.run_defaults)
    window_placement: str = "salt"
    source: str = ""  # the catalogue file the entry came from, for error messages

    @property
    def total_size(self) -> int:
        return sum(f.size for f in self.files)

    def file(self, name: str) -> ModelFile:
        for item in self.files:
            if item.name == name:
                return item
        raise KeyError(name)

    @property
    def bundled_dir(self) -> Path:
        return BUNDLED_MODELS / self.id


def _entry_from_json(raw: dict, source: str) -> CatalogEntry:
    files = tuple(ModelFile(f["name"], f.get("url", ""), int(f["size"]), f["sha256"]) for f in raw["files"])
    if sorted(f.name for f in files) != sorted(MODEL_FILES):
        raise CatalogError(f"{source}: model '{raw['id']}' must list exactly {MODEL_FILE} and {CONFIG_FILE}")
    missing = [f.name for f in files if not f.url]
    if missing and not raw["bundled"]:
        raise CatalogError(f"{source}: model '{raw['id']}' is not bundled, so {' and '.join(missing)} "
                           "need(s) a download url")
    tree = raw["label_tree"]
    return CatalogEntry(
        id=raw["id"], title=raw["title"], description=raw["description"], version=raw["version"],
        license=raw["license"], citation=raw["citation"], format=raw["format"],
        label_tree=tree["name"], label_tree_nodes=tree["nodes"], label_tree_leaves=tree["leaves"],
        roi_size=tuple(raw["roi_size"]),
        voxel_spacing=cast("tuple[float, float, float]", tuple(float(v) for v in raw["voxel_spacing"])),
        min_memory_mb=raw["min_memory_mb"], bundled=raw["bundled"], files=files,
        homepage=raw.get("homepage", ""), window_placement=raw.get("window_placement", "salt"), source=source,
    )


def load_schema() -> dict:
    return json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))


def parse_catalog(data: object, source: str) -> list[CatalogEntry]:
    """Validate a decoded catalogue against the schema; raise one error listing every problem."""
    problems = schema_errors(data, load_schema())
    if problems:
        shown = "\n  ".join(problems[:10])
        more = f"\n  ... and {len(problems) - 10} more" if len(problems) > 10 else ""
        raise CatalogError(f"catalogue {source} is invalid:\n  {shown}{more}")
    entries = [_entry_from_json(raw, source) for raw in data["models"]]  # type: ignore[index]
    seen: set[str] = set()
    for entry in entries:
        if entry.id in seen:
            raise CatalogError(f"catalogue {source} lists model '{entry.id}' twice")
        seen.add(entry.id)
    return entries


def read_catalog_file(path: Union[str, Path]) -> list[CatalogEntry]:
    path = Path(path).expanduser()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CatalogError(f"catalogue file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as error:
        raise CatalogError(f"cannot read catalogue file {path}: {error}") from error
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise CatalogError(f"catalogue file {path} is not valid JSON: {error}") from error
    return parse_catalog(data, str(path))


def catalog_sources(home: Path, catalog_file: Optional[Union[str, Path]] = None) -> list[Path]:
    """Catalogue files in increasing priority: bundled, ``<home>/catalog.json``,
    ``$SALTSEG_CATALOG`` (one or more paths separated by ``os.pathsep``), ``catalog_file``."""
    sources = [BUNDLED_CATALOG]
    user_default = home / "catalog.json"
    if user_default.is_file():
        sources.append(user_default)
    env = os.environ.get(ENV_CATALOG, "")
    sources += [Path(p) for p in env.split(os.pathsep) if p.strip()]
    if catalog_file is not None:
        sources.append(Path(catalog_file))
    return sources


def load_catalog(sources: Iterable[Path]) -> dict[str, CatalogEntry]:
    """Merge catalogue files; a later file's entry replaces an earlier one with the same id, so a
    site can point the published model at an internal mirror."""
    merged: dict[str, CatalogEntry] = {}
    for source in sources:
        for entry in read_catalog_file(source):
            if entry.id in merged:
                logger.info("model '%s' from %s replaces the entry from %s", entry.id, entry.source,
                            merged[entry.id].source)
            merged[entry.id] = entry
    return merged


def differs_from_catalog(entry: Optional[CatalogEntry], manifest: Optional[dict]) -> bool:
    """Whether an installed model's manifest lists other files (checksums) than its catalogue
    entry now does (False when either is missing)."""
    if entry is None or manifest is None:
        return False
    return any(manifest.get("files", {}).get(f.name, {}).get("sha256") != f.sha256 for f in entry.files)
