"""Name schemes: which tree path each structure name of another model lands on.

A scheme is a JSON data file (``saltseg/resources/schemes/<id>.json``, format
``saltseg-name-scheme``, described by ``scheme.schema.json`` beside them): ``structures`` maps each
name to a comma-joined tree path, ``tasks`` holds the scheme's label value maps (value → name) so
a labelmap without a name table can still be read. A user's mapping file has the same format and
may name a built-in scheme in ``extends``: its entries then override that scheme's.

``salt`` is built from SALT's published tree instead of a file: every leaf by its node name and
by its full path.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Mapping, Optional, Union

from ..errors import MappingError
from ..tree.labeltree import BACKGROUND, NodePath, LabelTree
from .names import normalise_name

logger = logging.getLogger(__name__)

SCHEME_DIR = Path(__file__).resolve().parents[1] / "resources" / "schemes"
SCHEME_FORMAT = "saltseg-name-scheme"
SCHEME_VERSION = 1
SALT_TREE_FILE = Path(__file__).resolve().parents[1] / "resources" / "saros+totalseg-tree-labels.txt"
#: Built-in name schemes, in the order ``auto`` prefers them on a tie.
BUILTIN_SCHEMES = ("totalsegmentator", "cads", "salt")


@dataclass(frozen=True)
class NameScheme:
    """Names (normalised) → tree paths, plus the scheme's label value maps."""

    id: str
    title: str
    structures: Mapping[str, NodePath]
    tasks: Mapping[str, Mapping[int, str]] = field(default_factory=dict)
    default_task: Optional[str] = None
    extends: Optional[str] = None

    def path_for(self, name: str) -> Optional[NodePath]:
        return self.structures.get(normalise_name(name))

    def value_names(self, task: Optional[str] = None) -> dict[int, str]:
        """The value → name map of ``task`` (default: the scheme's default task)."""
        chosen = task or self.default_task
        if chosen is None or chosen not in self.tasks:
            known = ", ".join(sorted(self.tasks)) or "none"
            raise MappingError(f"scheme {self.id!r} has no label value map {chosen!r} (known: {known})")
        return dict(self.tasks[chosen])


def parse_tree_path(text: object, where: str) -> NodePath:
    """A comma-joined tree path (a scheme entry, or a tag a segment carries) → its node names."""
    if not isinstance(text, str) or not text.strip():
        raise MappingError(f"{where}: the tree path must be a non-empty comma-joined string")
    path = tuple(part.strip() for part in text.split(","))
    if any(not part for part in path):
        raise MappingError(f"{where}: empty node name in tree path {text!r}")
    if path[0] == BACKGROUND:
        raise MappingError(f"{where}: a structure cannot be mapped to the background")
    return path


def parse_scheme(document: object, source: str) -> NameScheme:
    """Validate a scheme document (clear errors naming the entry) and build the scheme."""
    if not isinstance(document, dict) or document.get("format") != SCHEME_FORMAT:
        raise MappingError(f"{source}: not a {SCHEME_FORMAT} document (its 'format' must be {SCHEME_FORMAT!r})")
    if document.get("version") != SCHEME_VERSION:
        raise MappingError(f"{source}: unsupported version {document.get('version')!r} (expected {SCHEME_VERSION})")
    raw = document.get("structures")
    if not isinstance(raw, dict) or not raw:
        raise MappingError(f"{source}: 'structures' must be a non-empty object of name → tree path")
    structures: dict[str, NodePath] = {}
    for name, text in raw.items():
        key = normalise_name(name)
        if not key:
            raise MappingError(f"{source}: structure name {name!r} has no letters or digits")
        path = parse_tree_path(text, f"{source}: structure {name!r}")
        if key in structures and structures[key] != path:
            raise MappingError(f"{source}: names that differ only in case or punctuation map to different "
                               f"paths: {name!r}")
        structures[key] = path
    tasks: dict[str, dict[int, str]] = {}
    for task, values in (document.get("tasks") or {}).items():
        if not isinstance(values, dict):
            raise MappingError(f"{source}: task {task!r} must be an object of label value → name")
        table: dict[int, str] = {}
        for value, name in values.items():
            try:
                number = int(value)
            except ValueError:
                raise MappingError(f"{source}: task {task!r}: label value {value!r} is not an integer") from None
            if number <= 0 or not isinstance(name, str):
                raise MappingError(f"{source}: task {task!r}: value {value!r} must be a positive integer "
                                   "with a name (0 is the background)")
            if normalise_name(name) not in structures:
                raise MappingError(f"{source}: task {task!r}: {name!r} (value {value}) is not in 'structures'")
            table[number] = name
        tasks[str(task)] = table
    default_task = document.get("default_task")
    if default_task is not None and default_task not in tasks:
        raise MappingError(f"{source}: default_task {default_task!r} is not one of its tasks")
    extends = document.get("extends")
    if extends is not None and extends not in BUILTIN_SCHEMES:
        raise MappingError(f"{source}: 'extends' must be one of {', '.join(BUILTIN_SCHEMES)}, not {extends!r}")
    scheme_id = str(document.get("scheme") or Path(source).stem)
    return NameScheme(scheme_id, str(document.get("title") or scheme_id), structures, tasks, default_task, extends)


def load_scheme_file(path: Union[str, Path]) -> NameScheme:
    """A scheme or user mapping file (JSON, ``saltseg-name-scheme``)."""
    path = Path(path)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise MappingError(f"cannot read mapping file {path}: {error.strerror}") from error
    except json.JSONDecodeError as error:
        raise MappingError(f"mapping file {path} is not valid JSON: {error}") from error
    return parse_scheme(document, str(path))


@lru_cache(maxsize=1)
def salt_base_tree() -> LabelTree:
    """SALT's published tree (145 nodes), the trunk every organised tree grows from."""
    return LabelTree.from_tree_labels_file(SALT_TREE_FILE)


def _salt_scheme() -> NameScheme:
    tree = salt_base_tree()
    structures: dict[str, NodePath] = {}
    for path in tree.leaf_paths:
        if path == (BACKGROUND,):
            continue
        structures[normalise_name(",".join(path))] = path  # a full path given as a name
        if path[-1] != "other":  # "other" is ambiguous without its parent
            structures[normalise_name(path[-1])] = path
    return NameScheme("salt", "SALT (saros+totalseg tree)", structures)


@lru_cache(maxsize=None)
def builtin_scheme(scheme_id: str) -> NameScheme:
    if scheme_id == "salt":
        return _salt_scheme()
    if scheme_id not in BUILTIN_SCHEMES:
        raise MappingError(f"unknown scheme {scheme_id!r}: use auto, {', '.join(BUILTIN_SCHEMES)}, or a mapping file")
    return load_scheme_file(SCHEME_DIR / f"{scheme_id}.json")
