"""The phantom's SALT label tree.

Node names follow the published SALT tree (``saros+totalseg``) where they fit, so a user who knows
that tree recognises the structures; the phantom is coarser (whole spine segments instead of single
vertebrae, one label per rib cage side). Paths are listed sorted, so the line number in
``tree-labels.txt`` equals SALT's output label value (position in the sorted leaf list) and a
phantom labelmap can be compared with a prediction value for value.
"""
from __future__ import annotations

from ..tree.labeltree import LabelTree, NodePath

PHANTOM_LEAF_PATHS: tuple[NodePath, ...] = tuple(sorted(
    tuple(line.split(",")) for line in """\
background
body,subcutaneous_tissue
body,muscles,autochthon_left
body,muscles,autochthon_right
body,muscles,other
body,bones,spine,cervical_spine
body,bones,spine,thoracic_spine
body,bones,spine,lumbar_spine
body,bones,rib_cage,ribs_left
body,bones,rib_cage,ribs_right
body,bones,pelvis,hip_left
body,bones,pelvis,hip_right
body,bones,pelvis,sacrum
body,thoracic_cavity,lungs,lung_left
body,thoracic_cavity,lungs,lung_right
body,thoracic_cavity,mediastinum,heart
body,thoracic_cavity,mediastinum,aorta
body,thoracic_cavity,mediastinum,other
body,abdominal_cavity,liver
body,abdominal_cavity,spleen
body,abdominal_cavity,stomach
body,abdominal_cavity,kidneys,kidney_left
body,abdominal_cavity,kidneys,kidney_right
body,abdominal_cavity,urinary_bladder
body,abdominal_cavity,other""".splitlines()
))

#: Left/right leaf pairs (by leaf name): a prediction must never swap them.
LEFT_RIGHT_PAIRS: tuple[tuple[str, str], ...] = (
    ("autochthon_left", "autochthon_right"),
    ("ribs_left", "ribs_right"),
    ("hip_left", "hip_right"),
    ("lung_left", "lung_right"),
    ("kidney_left", "kidney_right"),
)


def phantom_tree_labels_text() -> str:
    """``tree-labels.txt`` of the phantom dataset: line ``i`` is the path of label value ``i``."""
    return "\n".join(",".join(path) for path in PHANTOM_LEAF_PATHS) + "\n"


def phantom_tree() -> LabelTree:
    return LabelTree.from_paths(PHANTOM_LEAF_PATHS)


def value_of(name: str) -> int:
    """Label value of a leaf given its last path component (e.g. ``"kidney_left"``); the
    ``other`` leaves are ambiguous, use :func:`value_of_path` for them."""
    matches = [value for value, path in enumerate(PHANTOM_LEAF_PATHS) if path[-1] == name]
    if len(matches) != 1:
        raise KeyError(f"{name!r} does not name exactly one phantom leaf")
    return matches[0]


def value_of_path(path: str) -> int:
    return PHANTOM_LEAF_PATHS.index(tuple(path.split(",")))
