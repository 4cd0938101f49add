"""The SALT label tree: node order, structure queries and validation.

A SALT model's output channels are the nodes of a label tree (the invisible root excluded). SALT
builds the node order by adding every path prefix in file order and then sorting the node list by
path tuple; the channels and the predicted label values follow that order, so this module
reproduces it exactly. A node is identified by its path, e.g. ``("body", "bones", "spine")``; the
comma-joined form ``"body,bones,spine"`` (SALT's file format) is accepted wherever a node is asked
for.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path as FsPath
from typing import Any, Iterable, Optional, Sequence, Union

import numpy as np

from .colors import node_colors
from .display_names import display_name_for_path
from ..errors import TreeError

NodePath = tuple[str, ...]
NodeRef = Union[int, str, Sequence[str]]

BACKGROUND = "background"
JSON_FORMAT = "saltseg-label-tree"
JSON_VERSION = 1


@dataclass(frozen=True)
class SourceLabel:
    """One line of a ``tree-labels.txt``: dataset label ``value`` maps to tree node ``path``."""

    value: int
    path: Optional[NodePath]
    origin: str


def parse_tree_labels(text: str, source: str = "tree-labels.txt") -> list[SourceLabel]:
    """Parse SALT's ``tree-labels.txt``: line ``i`` (0-based) is the path of label value ``i``.

    ``-`` or an empty line marks an unused value. Raises :class:`TreeError` naming the line for
    empty node names, a name repeated within its own path (a cycle) and duplicated paths.
    """
    labels: list[SourceLabel] = []
    seen: dict[NodePath, str] = {}
    for value, raw in enumerate(text.splitlines()):
        origin = f"{source}:{value + 1}"
        line = raw.strip()
        if line in ("", "-"):
            labels.append(SourceLabel(value, None, origin))
            continue
        path = tuple(part.strip() for part in line.split(","))
        if any(not part for part in path):
            raise TreeError(f"{origin}: empty node name in {line!r}")
        repeated = sorted({p for p in path if path.count(p) > 1})
        if repeated:
            raise TreeError(
                f"{origin}: {line!r} is a cycle: node {repeated[0]!r} appears twice on its own path"
            )
        if path in seen:
            raise TreeError(f"{origin}: duplicate path {line!r} (already on {seen[path]})")
        seen[path] = origin
        labels.append(SourceLabel(value, path, origin))
    return labels


def _as_path(node: Union[str, Sequence[str]]) -> NodePath:
    if isinstance(node, str):
        return tuple(part.strip() for part in node.split(","))
    return tuple(node)


class LabelTree:
    """An immutable label tree whose node indices equal the model's output channels."""

    def __init__(self, paths: Sequence[NodePath], parents: Sequence[int]) -> None:
        """Low-level constructor; use :meth:`from_paths`, :meth:`from_tree_labels_file` or
        :meth:`from_config`, which validate their input."""
        self._paths: tuple[NodePath, ...] = tuple(tuple(p) for p in paths)
        self._parents = np.asarray(parents, dtype=np.int64)
        self._index = {p: i for i, p in enumerate(self._paths)}
        children: list[list[int]] = [[] for _ in self._paths]
        roots: list[int] = []
        for i, parent in enumerate(self._parents.tolist()):
            (roots if parent < 0 else children[parent]).append(i)
        self._root_children = tuple(roots)
        self._children = tuple(tuple(c) for c in children)
        depth = np.zeros(len(self._paths), dtype=np.int64)
        for i in self.topological_order():
            parent = int(self._parents[i])
            depth[i] = 1 if parent < 0 else depth[parent] + 1
        self._depth = depth
        self._leaves = tuple(i for i, c in enumerate(self._children) if not c)
        self._leaf_value = {node: value for value, node in enumerate(self._leaves)}

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_paths(
        cls, paths: Iterable[NodePath], origins: Optional[Sequence[str]] = None
    ) -> "LabelTree":
        """Build SALT's tree from leaf (or internal) paths, in SALT's node order."""
        paths = [tuple(p) for p in paths]
        origins = list(origins) if origins is not None else [f"path {i}" for i in range(len(paths))]
        first_origin: dict[NodePath, str] = {}
        for path, origin in zip(paths, origins):
            if not path:
                raise TreeError(f"{origin}: empty path")
            for depth in range(1, len(path) + 1):
                first_origin.setdefault(path[:depth], origin)
        if not first_origin:
            raise TreeError("the label tree has no nodes")
        ordered = sorted(first_origin)
        index = {p: i for i, p in enumerate(ordered)}
        parents = [index[p[:-1]] if len(p) > 1 else -1 for p in ordered]
        tree = cls(ordered, parents)
        tree._check_no_single_child(lambda node: first_origin[tree.path(node)])
        return tree

    @classmethod
    def from_source_labels(cls, labels: Iterable[SourceLabel]) -> "LabelTree":
        used = [(label.path, label.origin) for label in labels if label.path is not None]
        return cls.from_paths([path for path, _ in used], [origin for _, origin in used])

    @classmethod
    def from_tree_labels_file(cls, *files: Union[str, FsPath]) -> "LabelTree":
        """Read one ``tree-labels.txt`` or fuse several datasets' files into one tree, as SALT's
        training does (the union of all paths)."""
        labels: list[SourceLabel] = []
        for file in files:
            file = FsPath(file)
            try:
                text = file.read_text(encoding="utf-8")
            except OSError as error:
                raise TreeError(f"cannot read label tree {file}: {error.strerror}") from error
            labels.extend(parse_tree_labels(text, source=str(file)))
        return cls.from_source_labels(labels)

    @classmethod
    def from_config(cls, label_names: Sequence[Sequence[str]], adjacency_matrix: Any) -> "LabelTree":
        """Build the tree stored in an official ``config.pkl`` (``label_names`` + an adjacency
        matrix whose row/column 0 is the invisible root), keeping the config's channel order."""
        names = [tuple(str(part) for part in name) for name in label_names]
        matrix = np.asarray(adjacency_matrix)
        n = len(names)
        if matrix.ndim != 2 or matrix.shape != (n + 1, n + 1):
            raise TreeError(
                f"adjacency_matrix has shape {matrix.shape}, expected {(n + 1, n + 1)} for "
                f"{n} label_names plus the root"
            )
        if not np.isin(matrix, (0, 1)).all():
            raise TreeError("adjacency_matrix must contain only 0 and 1")
        if matrix[:, 0].any():
            raise TreeError("adjacency_matrix: the root (row/column 0) cannot have a parent")
        parent_count = matrix[:, 1:].sum(axis=0)
        for i in np.flatnonzero(parent_count != 1).tolist():
            raise TreeError(
                f"label_names[{i}] {names[i]!r} has {int(parent_count[i])} parents, expected 1"
            )
        parents = [int(np.flatnonzero(matrix[:, i + 1])[0]) - 1 for i in range(n)]
        reachable = cls._reachable_from_root(parents)
        for i in range(n):
            if not reachable[i]:
                raise TreeError(
                    f"label_names[{i}] {names[i]!r} lies on a cycle: it is not reachable from the root"
                )
        seen: dict[NodePath, int] = {}
        for i, name in enumerate(names):
            if name in seen:
                raise TreeError(f"label_names[{i}] duplicates label_names[{seen[name]}]: {name!r}")
            seen[name] = i
            expected_parent = names[parents[i]] if parents[i] >= 0 else ()
            if name[:-1] != expected_parent:
                raise TreeError(
                    f"label_names[{i}] {name!r} is not a child path of its parent "
                    f"{expected_parent or '<root>'!r} in the adjacency_matrix"
                )
        tree = cls(names, parents)
        tree._check_no_single_child(lambda node: f"label_names[{node}]")
        return tree

    @staticmethod
    def _reachable_from_root(parents: Sequence[int]) -> list[bool]:
        children: list[list[int]] = [[] for _ in parents]
        stack: list[int] = []
        for i, parent in enumerate(parents):
            (stack if parent < 0 else children[parent]).append(i)
        reachable = [False] * len(parents)
        while stack:
            node = stack.pop()
            if not reachable[node]:
                reachable[node] = True
                stack.extend(children[node])
        return reachable

    def _check_no_single_child(self, origin_of) -> None:
        groups = [self._root_children] + [c for c in self._children if c]
        for group in groups:
            if len(group) == 1:
                only = group[0]
                parent = self.parent(only)
                owner = "<root>" if parent is None else ",".join(self.path(parent))
                raise TreeError(
                    f"{origin_of(only)}: node {owner!r} has a single child {self.path(only)[-1]!r}; "
                    "a SALT sibling group needs at least two nodes (add an 'other' sibling)"
                )

    # ------------------------------------------------------------------ basic queries
    def __len__(self) -> int:
        return len(self._paths)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LabelTree) and self._paths == other._paths and bool(
            np.array_equal(self._parents, other._parents)
        )

    def __hash__(self) -> int:
        return hash(self._paths)

    def __repr__(self) -> str:
        return f"LabelTree({len(self)} nodes, {len(self._leaves)} leaves, depth {self.max_depth})"

    @property
    def paths(self) -> tuple[NodePath, ...]:
        return self._paths

    @property
    def parents(self) -> np.ndarray:
        """Parent index per node, -1 for children of the invisible root."""
        return self._parents.copy()

    @property
    def max_depth(self) -> int:
        return int(self._depth.max())

    def index(self, node: NodeRef) -> int:
        if isinstance(node, (int, np.integer)):
            if not 0 <= int(node) < len(self):
                raise KeyError(f"node index {node} is out of range 0..{len(self) - 1}")
            return int(node)
        path = _as_path(node)
        try:
            return self._index[path]
        except KeyError:
            raise KeyError(f"no node {','.join(path)!r} in the label tree") from None

    def path(self, node: NodeRef) -> NodePath:
        return self._paths[self.index(node)]

    def node_id(self, node: NodeRef) -> str:
        """Stable text key of a node: its comma-joined path (SALT's file format)."""
        return ",".join(self.path(node))

    def parent(self, node: NodeRef) -> Optional[int]:
        parent = int(self._parents[self.index(node)])
        return None if parent < 0 else parent

    def children(self, node: Optional[NodeRef] = None) -> tuple[int, ...]:
        """Children of ``node``; of the invisible root when ``node`` is None."""
        return self._root_children if node is None else self._children[self.index(node)]

    def depth(self, node: NodeRef) -> int:
        """1 for children of the root."""
        return int(self._depth[self.index(node)])

    def is_leaf(self, node: NodeRef) -> bool:
        return not self._children[self.index(node)]

    def ancestors(self, node: NodeRef) -> tuple[int, ...]:
        """Ancestors from the top down, excluding the node itself."""
        chain = []
        parent = self.parent(node)
        while parent is not None:
            chain.append(parent)
            parent = self.parent(parent)
        return tuple(reversed(chain))

    def subtree(self, node: NodeRef) -> tuple[int, ...]:
        """The node and all its descendants, in channel order."""
        start = self.index(node)
        found, stack = [], [start]
        while stack:
            current = stack.pop()
            found.append(current)
            stack.extend(self._children[current])
        return tuple(sorted(found))

    def topological_order(self) -> list[int]:
        """Parents before children (breadth first)."""
        order = list(self._root_children)
        for node in order:
            order.extend(self._children[node])
        return order

    def display_name(self, node: NodeRef) -> str:
        return display_name_for_path(self.path(node))

    # ------------------------------------------------------------------ leaves and labels
    @property
    def leaves(self) -> tuple[int, ...]:
        """Leaf node indices in channel order; a leaf's label value is its position here."""
        return self._leaves

    @property
    def leaf_paths(self) -> tuple[NodePath, ...]:
        return tuple(self._paths[i] for i in self._leaves)

    def label_value(self, node: NodeRef) -> int:
        """SALT's output label value of a leaf: its position in the sorted leaf list."""
        index = self.index(node)
        if index not in self._leaf_value:
            raise KeyError(f"{self.node_id(index)!r} is not a leaf and has no label value")
        return self._leaf_value[index]

    def leaf_for_value(self, value: int) -> int:
        return self._leaves[value]

    def subtree_label_values(self, node: NodeRef) -> tuple[int, ...]:
        """Label values of all leaves under ``node`` (the node itself if it is a leaf)."""
        return tuple(self._leaf_value[i] for i in self.subtree(node) if i in self._leaf_value)

    @property
    def background_leaf(self) -> Optional[int]:
        """Node index of the top-level ``background`` leaf, if the tree has one: not a structure,
        so never measured, scored or averaged over."""
        index = self._index.get((BACKGROUND,))
        return index if index in self._leaf_value else None

    @property
    def background_value(self) -> Optional[int]:
        """Label value of the top-level ``background`` leaf, if the tree has one."""
        leaf = self.background_leaf
        return None if leaf is None else self._leaf_value[leaf]

    # ------------------------------------------------------------------ matrices for the softmax
    @property
    def sibling_groups(self) -> tuple[tuple[int, ...], ...]:
        """Each group shares one conditional softmax: the root's children first, then the
        children of every internal node in channel order."""
        return (self._root_children,) + tuple(c for c in self._children if c)

    def group_index(self) -> np.ndarray:
        """Per node, the index of its sibling group in :attr:`sibling_groups`."""
        groups = np.empty(len(self), dtype=np.int64)
        for g, members in enumerate(self.sibling_groups):
            groups[list(members)] = g
        return groups

    @property
    def adjacency_matrix(self) -> np.ndarray:
        """SALT's matrix: ``(N+1)×(N+1)`` uint8, row/column 0 the root, ``[parent, child] = 1``."""
        n = len(self)
        matrix = np.zeros((n + 1, n + 1), dtype=np.uint8)
        matrix[self._parents + 1, np.arange(1, n + 1)] = 1
        return matrix

    # ------------------------------------------------------------------ JSON form
    def to_json_dict(self) -> dict[str, Any]:
        colors = node_colors(self)
        nodes = []
        for i, path in enumerate(self._paths):
            nodes.append(
                {
                    "index": i,
                    "id": ",".join(path),
                    "path": list(path),
                    "name": self.display_name(i),
                    "parent": self.parent(i),
                    "depth": self.depth(i),
                    "children": list(self._children[i]),
                    "label_value": self._leaf_value.get(i),
                    "color": [round(c, 4) for c in colors[i]],
                }
            )
        return {"format": JSON_FORMAT, "version": JSON_VERSION, "nodes": nodes}

    def to_json(self, indent: Optional[int] = None) -> str:
        return json.dumps(self.to_json_dict(), indent=indent)

    @classmethod
    def from_json(cls, text_or_dict: Union[str, dict]) -> "LabelTree":
        data = json.loads(text_or_dict) if isinstance(text_or_dict, str) else text_or_dict
        if not isinstance(data, dict) or data.get("format") != JSON_FORMAT:
            raise TreeError(f"not a {JSON_FORMAT} JSON document")
        nodes = data.get("nodes", [])
        paths = [tuple(node["path"]) for node in nodes]
        parents = [-1 if node["parent"] is None else int(node["parent"]) for node in nodes]
        adjacency = np.zeros((len(paths) + 1, len(paths) + 1), dtype=np.uint8)
        for child, parent in enumerate(parents):
            adjacency[parent + 1, child + 1] = 1
        return cls.from_config(paths, adjacency)
