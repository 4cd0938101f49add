"""The organised tree: SALT's published tree grown by the nodes other schemes need.

One tree for every built-in scheme (the union of their paths), so a structure has the same node,
name and colour whichever model segmented it. A user's mapping file may add paths; structures
that cannot be placed go under one top-level ``unmapped`` node. Every structure is a leaf, so an
internal node's volume is the sum of its leaves; a structure that a segmentation of this project
places on a group makes that group a leaf (:func:`leaf_tree`).
"""
from __future__ import annotations

from functools import lru_cache
from typing import Iterable, Sequence

from ..errors import MappingError
from ..tree.labeltree import LabelTree, NodePath
from .names import slug
from .schemes import BUILTIN_SCHEMES, builtin_scheme, salt_base_tree

UNMAPPED = "unmapped"


@lru_cache(maxsize=1)
def builtin_paths() -> tuple[NodePath, ...]:
    """Every leaf path of SALT's tree plus every path a built-in scheme maps to, sorted."""
    paths = set(salt_base_tree().leaf_paths)
    for scheme_id in BUILTIN_SCHEMES:
        paths.update(builtin_scheme(scheme_id).structures.values())
    return tuple(sorted(paths))


def unmapped_paths(names: Sequence[str]) -> dict[str, NodePath]:
    """Unplaceable structure name → its node under ``unmapped``. A single one is the ``unmapped``
    leaf itself (a group of one child is not a valid SALT sibling group)."""
    unique = list(dict.fromkeys(names))
    if len(unique) == 1:
        return {unique[0]: (UNMAPPED,)}
    taken: dict[str, int] = {}
    result: dict[str, NodePath] = {}
    for name in unique:
        base = slug(name)
        count = taken.get(base, 0)
        taken[base] = count + 1
        result[name] = (UNMAPPED, base if count == 0 else f"{base}_{count + 1}")
    return result


def check_leaf_paths(paths: Iterable[NodePath], existing: Iterable[NodePath]) -> None:
    """Refuse a path that would turn a leaf into a group, or a group into a leaf: each structure
    must stay a leaf of the organised tree."""
    existing = set(existing)
    prefixes = {path[:depth] for path in existing for depth in range(1, len(path))}
    for path in paths:
        if path in existing:
            continue
        if path in prefixes:
            raise MappingError(f"{','.join(path)!r} is a group of SALT's tree, not a structure; map the "
                               "structure to a leaf (e.g. a new child of that group)")
        for depth in range(1, len(path)):
            if path[:depth] in existing:
                raise MappingError(f"{','.join(path)!r} would place a structure below the structure "
                                   f"{','.join(path[:depth])!r}")


def organised_tree(extra_paths: Iterable[NodePath] = ()) -> LabelTree:
    """The built-in organised tree plus ``extra_paths`` (user mappings, unmapped structures)."""
    base = builtin_paths()
    known = set(_builtin_tree().paths)  # a merged segment may sit on an existing group
    extra = [tuple(p) for p in extra_paths if tuple(p) not in known]
    check_leaf_paths([p for p in extra if p[0] != UNMAPPED], base)
    if not extra:
        return _builtin_tree()
    return LabelTree.from_paths(sorted(set(base) | set(extra)))


def leaf_tree(placed: Iterable[NodePath]) -> LabelTree:
    """The organised tree in which every ``placed`` path is a leaf, so that a labelmap can hold it.

    A structure placed on a group (a merged subtree, or a coarser model's leaf such as the demo
    model's whole cervical spine) takes the place of that group's subtree: the finer nodes it does
    not resolve are left out of this tree rather than measured as empty.
    """
    placed = {tuple(p) for p in placed}
    tree = organised_tree(placed)
    groups = sorted(p for p in placed if not tree.is_leaf(p))
    if not groups:
        return tree
    for group in groups:
        inside = sorted(p for p in placed if len(p) > len(group) and p[:len(group)] == group)
        if inside:
            raise MappingError(f"{','.join(group)!r} holds a structure of its own and structures below it "
                               f"({', '.join(','.join(p) for p in inside)}): a labelmap cannot hold both, so keep "
                               "either the merged segment or the segments it was merged from")
    kept = [p for p in tree.leaf_paths if not any(p[:len(g)] == g for g in groups)]
    return LabelTree.from_paths(sorted(set(kept) | set(groups)))


@lru_cache(maxsize=1)
def _builtin_tree() -> LabelTree:
    return LabelTree.from_paths(builtin_paths())


def is_salt_node(path: NodePath) -> bool:
    """True when ``path`` is a node of SALT's published tree (not one the organised tree added)."""
    try:
        salt_base_tree().index(path)
    except KeyError:
        return False
    return True
