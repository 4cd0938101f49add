"""Name tables of label maps (which value is which structure) and their tree nodes.

A table is JSON (``{"1": "spleen", ...}``, or a saltseg ``.labels.json``), text with ``1 spleen``
per line, SALT's ``labels.txt`` (line i: the name of value i) or ``tree-labels.txt`` (line i: the
tree path of value i); ``-`` or an empty line marks an unused value. Names map to nodes of a tree by the tree's own
node names
(SALT's leaves reuse TotalSegmentator's names); a ``mapper`` (another model's name scheme) is
asked first, so models with other names plug in without changes here.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping, Optional, Union

from ..errors import InputImageError
from ..tree.labeltree import BACKGROUND, LabelTree

#: A name scheme: label name → tree node (path, comma-joined path or index), None if it has none.
NameMapper = Callable[[str], Optional[Union[str, int, tuple]]]
_VALUE_NAME = re.compile(r"^\s*(\d+)\s*[\s,;:=]\s*(.+?)\s*$")


@dataclass
class LabelMapping:
    """Label values → tree nodes, and the values whose names map to no node (never dropped
    silently: reports list them)."""

    label_nodes: dict[int, int] = field(default_factory=dict)
    unmapped: dict[int, str] = field(default_factory=dict)


def read_name_table(path: Union[str, Path]) -> dict[int, str]:
    """Label value → name (or tree path) from a JSON file, ``value name`` lines, ``labels.txt`` or
    ``tree-labels.txt``. Value 0 is kept when named (callers that treat it as background drop it)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise InputImageError(f"cannot read the label names {path}: {error.strerror}") from error
    if path.suffix.lower() == ".json":
        return _json_table(text, path)
    lines = text.splitlines()
    numbered = [_VALUE_NAME.match(line) for line in lines if line.strip()]
    matches = [match for match in numbered if match is not None]
    if numbered and len(matches) == len(numbered):
        names = {int(match.group(1)): match.group(2) for match in matches}
    else:  # line i names value i
        names = {value: line.strip() for value, line in enumerate(lines) if line.strip() not in ("", "-")}
    if not names:
        raise InputImageError(f"{path} names no label")
    return names


def _json_table(text: str, path: Path) -> dict[int, str]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise InputImageError(f"{path} is not valid JSON: {error}") from error
    if isinstance(data, dict) and isinstance(data.get("labels"), list):  # a saltseg .labels.json
        return {int(entry["value"]): str(entry["node_id"]) for entry in data["labels"]}
    if not isinstance(data, dict):
        raise InputImageError(f"{path}: expected an object {{\"value\": \"name\"}}")
    table = {}
    for key, name in data.items():
        try:
            table[int(key)] = str(name)
        except ValueError:
            raise InputImageError(f"{path}: key {key!r} is not a label value") from None
    return table


def node_for_name(tree: LabelTree, name: str, mapper: Optional[NameMapper] = None) -> Optional[int]:
    """The node ``name`` stands for: the mapper's answer, else a tree path, else the one node of
    that name. None when nothing (or more than one node, e.g. ``other``) matches."""
    if mapper is not None:
        mapped = mapper(name)
        if mapped is not None:
            try:
                return tree.index(mapped)
            except KeyError:
                pass  # a node this tree lacks (e.g. one the organised tree added): try the tree's own names
    if "," in name:
        try:
            return tree.index(name.strip())
        except KeyError:
            return None
    matches = [i for i, path in enumerate(tree.paths) if path[-1] == name.strip()]
    return matches[0] if len(matches) == 1 else None


def map_names(tree: LabelTree, names: Mapping[int, str], mapper: Optional[NameMapper] = None,
              ignore: tuple[str, ...] = (BACKGROUND,)) -> LabelMapping:
    """Map a name table onto ``tree``; the background name is neither mapped nor reported."""
    mapping = LabelMapping()
    for value, name in sorted(names.items()):
        if name.strip().lower() in ignore:
            continue
        node = node_for_name(tree, name, mapper)
        if node is None:
            mapping.unmapped[value] = name
        else:
            mapping.label_nodes[value] = node
    return mapping
