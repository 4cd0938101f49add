"""The label table: label value → tree node, readable name and colour."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Iterable, Optional

from .colors import node_colors
from .labeltree import LabelTree

#: The ``format`` of the ``.labels.json`` written beside a labelmap.
LABEL_TABLE_FORMAT = "saltseg-label-table"


@dataclass(frozen=True)
class LabelEntry:
    value: int  # SALT's label value: position of the leaf in the sorted leaf list
    node: int  # node index = model output channel
    node_id: str  # comma-joined tree path, the stable key
    path: tuple[str, ...]
    name: str
    color: tuple[float, float, float]  # RGB in [0, 1]

    def to_dict(self) -> dict:
        data = asdict(self)
        data["path"] = list(self.path)
        data["color"] = [round(c, 4) for c in self.color]
        return data


def label_table(tree: LabelTree, values: Optional[Iterable[int]] = None) -> list[LabelEntry]:
    """Entries for ``values`` (default: every leaf), in value order."""
    colors = node_colors(tree)
    chosen = range(len(tree.leaves)) if values is None else sorted(set(int(v) for v in values))
    entries = []
    for value in chosen:
        node = tree.leaf_for_value(value)
        entries.append(LabelEntry(value, node, tree.node_id(node), tree.path(node),
                                  tree.display_name(node), colors[node]))
    return entries


def label_table_json(tree: LabelTree, values: Optional[Iterable[int]] = None, **extra) -> str:
    """JSON document for a labelmap file: its label table plus the whole tree."""
    document = {
        "format": LABEL_TABLE_FORMAT,
        "version": 1,
        **extra,
        "background_value": tree.background_value,
        "labels": [entry.to_dict() for entry in label_table(tree, values)],
        "tree": tree.to_json_dict(),
    }
    return json.dumps(document, indent=1)
