"""SNOMED CT codes → tree paths, for segments that carry a terminology entry.

Two sources, merged: the engine's own code table (:mod:`saltseg.tree.anatomic_codes`, reversed
over SALT's published tree) and ``resources/schemes/snomed.json`` (the codes SlicerTotalSegmentator
and similar tools write, for the structures SALT's tree gains). A code is looked up with its
laterality (left stays left) and, for morphologically altered structures such as a kidney cyst,
its anatomic region.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from typing import Optional

from ..errors import MappingError
from ..tree.anatomic_codes import LEFT, RIGHT, anatomic_code
from ..tree.labeltree import NodePath
from .schemes import SCHEME_DIR, salt_base_tree

CODE_FORMAT = "saltseg-code-scheme"
_SIDES = {LEFT[0]: "left", RIGHT[0]: "right"}


@dataclass(frozen=True)
class CodeKey:
    """What identifies a coded structure: type code, anatomic region (if any), side (if any)."""

    code: str
    region: Optional[str] = None
    laterality: Optional[str] = None  # "left" / "right"


def _parse_triplet(text: str) -> tuple[str, str, str]:
    parts = (text.split("^") + ["", "", ""])[:3]
    return parts[0].strip(), parts[1].strip(), parts[2].strip()


def parse_terminology_entry(entry: str) -> Optional[CodeKey]:
    """Slicer's serialised ``TerminologyEntry`` tag (``context~category~type~typeModifier~
    anatomicContext~region~regionModifier``, each ``scheme^value^meaning``) → its key, or None."""
    fields = entry.split("~") if entry else []
    if len(fields) < 3:
        return None
    _, code, _ = _parse_triplet(fields[2])
    if not code:
        return None
    modifier = _parse_triplet(fields[3])[1] if len(fields) > 3 else ""
    region = _parse_triplet(fields[5])[1] if len(fields) > 5 else ""
    region_modifier = _parse_triplet(fields[6])[1] if len(fields) > 6 else ""
    side = _SIDES.get(modifier) or _SIDES.get(region_modifier)
    return CodeKey(code, region or None, side)


def key_from_terminology_dict(terminology: dict) -> Optional[CodeKey]:
    """The same key from ``slicerio``'s parsed form of a terminology entry."""
    def value(field_name: str) -> str:
        item = terminology.get(field_name) or []
        return str(item[1]).strip() if len(item) > 1 else ""

    code = value("type")
    if not code:
        return None
    side = _SIDES.get(value("typeModifier")) or _SIDES.get(value("anatomicRegionModifier"))
    return CodeKey(code, value("anatomicRegion") or None, side)


def _file_entries() -> list[tuple[CodeKey, NodePath]]:
    path = SCHEME_DIR / "snomed.json"
    document = json.loads(path.read_text(encoding="utf-8"))
    if document.get("format") != CODE_FORMAT:
        raise MappingError(f"{path}: not a {CODE_FORMAT} document")
    entries = []
    for item in document["codes"]:
        key = CodeKey(str(item["code"]), item.get("region"), item.get("laterality"))
        entries.append((key, tuple(item["path"].split(","))))
    return entries


@lru_cache(maxsize=1)
def code_table() -> dict[CodeKey, NodePath]:
    """Every known (code, region, side) → tree path. Raises if the two sources disagree."""
    table: dict[CodeKey, NodePath] = {}
    tree = salt_base_tree()
    own = []
    for path in tree.leaf_paths:
        code = anatomic_code(path)
        if code is not None:
            side = _SIDES.get(code.laterality[0]) if code.laterality else None
            own.append((CodeKey(code.value, None, side), path))
    for key, path in own + _file_entries():
        if key in table and table[key] != path:
            raise MappingError(f"code {key.code} ({key.laterality or 'no side'}) maps to both "
                               f"{','.join(table[key])} and {','.join(path)}")
        table[key] = path
    return table


def path_for_code(key: CodeKey) -> Optional[NodePath]:
    """The tree path of a coded structure. A code with a side never falls back to the sideless
    entry and vice versa: a "Kidney" without laterality is not silently made a left kidney."""
    return code_table().get(key)
