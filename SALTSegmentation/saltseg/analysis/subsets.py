"""Structure subsets (``--only``): which tree nodes a user means, and a labelmap holding only them.

A structure is named by its tree path (``body,bones,spine``), by its own node name when that is
unique in the tree (``spine``, ``kidney_left``) or by its readable name (``Lumbar spine``,
case-insensitive). The network still runs once over the whole scan; a subset only keeps the
chosen subtrees in what is written and imported.
"""
from __future__ import annotations

import difflib
from typing import Iterable, Sequence

import numpy as np
import SimpleITK as sitk

from ..errors import TreeError
from ..tree.labeltree import LabelTree


def resolve_structure(tree: LabelTree, text: str) -> int:
    """The node ``text`` names; :class:`TreeError` with suggestions when none or several do."""
    wanted = text.strip()
    if not wanted:
        raise TreeError("an empty structure name was given")
    if "," in wanted:
        try:
            return tree.index(wanted)
        except KeyError:
            pass
    else:
        by_name = [i for i, path in enumerate(tree.paths) if path[-1] == wanted]
        if len(by_name) == 1:
            return by_name[0]
        by_display = [i for i in range(len(tree)) if tree.display_name(i).lower() == wanted.lower()]
        if len(by_display) == 1:
            return by_display[0]
        candidates = by_name or by_display
        if candidates:
            raise TreeError(f"structure {wanted!r} is ambiguous: give its tree path, one of "
                            + ", ".join(tree.node_id(i) for i in candidates))
    keys = [tree.node_id(i) for i in range(len(tree))] + [tree.display_name(i) for i in range(len(tree))]
    close = difflib.get_close_matches(wanted, keys, n=4, cutoff=0.6)
    hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else \
        " (give a tree path such as body,bones,spine or a structure name)"
    raise TreeError(f"no structure {wanted!r} in the label tree{hint}")


def resolve_structures(tree: LabelTree, texts: Iterable[str]) -> list[int]:
    """The chosen nodes, in tree order, without repeats or nodes inside another chosen subtree."""
    chosen = sorted({resolve_structure(tree, text) for text in texts})
    return [n for n in chosen if not any(a in chosen for a in tree.ancestors(n))]


def subset_nodes(tree: LabelTree, nodes: Sequence[int]) -> list[int]:
    """Every node of the chosen subtrees, in tree order."""
    return sorted({member for node in nodes for member in tree.subtree(node)})


def subset_label_values(tree: LabelTree, nodes: Sequence[int]) -> list[int]:
    return sorted({value for node in nodes for value in tree.subtree_label_values(node)})


def restrict_labelmap(labelmap: sitk.Image, tree: LabelTree, nodes: Sequence[int]) -> sitk.Image:
    """``labelmap`` with every leaf outside the chosen subtrees set to background."""
    background = tree.background_value
    if background is None:
        raise TreeError("this label tree has no 'background' leaf, so a structure subset cannot "
                        "mark the other structures as background")
    array = sitk.GetArrayFromImage(labelmap)
    keep = np.isin(array, subset_label_values(tree, nodes))
    array[~keep] = background
    restricted = sitk.GetImageFromArray(array)
    restricted.CopyInformation(labelmap)
    return restricted
