"""Reading an existing segmentation with its label tree: a ``.seg.nrrd`` (its ``SALT_LabelTree``
header, or segment tree-path tags) or a labelmap with ``<name>.labels.json`` beside it.

The result is one integer labelmap plus ``label_nodes`` (label value → tree node), so a segment
that stands for an internal node (a merged subtree) is counted there and not at a leaf.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Optional, Union

import numpy as np
import SimpleITK as sitk

from ..errors import InputImageError, TreeError
from ..io.image_io import read_image
from ..io.writers import HEADER_TREE, TAG_TREE_PATH, label_table_path, output_kind
from ..tree.labeltree import LabelTree
from .segment_layers import combine_layers, set_geometry
from .statistics import leaf_label_nodes

logger = logging.getLogger(__name__)


@dataclass
class TreeSegmentation:
    labelmap: sitk.Image
    tree: LabelTree
    label_nodes: dict[int, int]  # label value → node index
    #: Segments whose tree path is not in the tree (listed, never silently dropped).
    unmapped: dict[int, str] = field(default_factory=dict)


def read_tree_segmentation(path: Union[str, Path], tree: Optional[LabelTree] = None) -> TreeSegmentation:
    """Read ``path``; ``tree`` overrides the stored tree (needed for a labelmap without its table)."""
    path = Path(path)
    if not path.is_file():
        raise InputImageError(f"segmentation {path} does not exist")
    try:
        kind = output_kind(path)
    except Exception:  # noqa: BLE001 - reworded for an input
        raise InputImageError(f"{path.name}: a segmentation must be a .seg.nrrd or a labelmap "
                              "(.nii.gz/.nii/.nrrd/.mha)") from None
    if kind == "seg.nrrd":
        return _read_seg_nrrd(path, tree)
    return _read_labelmap(path, tree)


def _read_labelmap(path: Path, tree: Optional[LabelTree]) -> TreeSegmentation:
    labelmap = read_image(path)
    table_path = label_table_path(path)
    if tree is None and not table_path.is_file():
        raise InputImageError(f"{path.name} has no {table_path.name} beside it; give the label tree "
                              "(--tree) so that its values (SALT's leaf values) can be read")
    if table_path.is_file():
        try:
            document = json.loads(table_path.read_text(encoding="utf-8"))
            stored = LabelTree.from_json(document["tree"])
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise InputImageError(f"{table_path} is not a saltseg label table: {error}") from error
        tree = tree or stored
        label_nodes, unmapped = {}, {}
        for entry in document.get("labels", []):
            value, node_id = int(entry["value"]), str(entry["node_id"])
            try:
                label_nodes[value] = tree.index(node_id)
            except KeyError:
                unmapped[value] = node_id
        return TreeSegmentation(_integer(labelmap, path), tree, label_nodes, unmapped)
    assert tree is not None  # no label table: refused above without a tree
    return TreeSegmentation(_integer(labelmap, path), tree, leaf_label_nodes(tree))


def _integer(labelmap: sitk.Image, path: Path) -> sitk.Image:
    if labelmap.GetNumberOfComponentsPerPixel() != 1 or labelmap.GetDimension() != 3:
        raise InputImageError(f"{path.name} is not a 3D single-component labelmap")
    if labelmap.GetPixelID() in (sitk.sitkFloat32, sitk.sitkFloat64):
        array = sitk.GetArrayViewFromImage(labelmap)
        if not np.array_equal(array, np.round(array)):
            raise InputImageError(f"{path.name} holds non-integer values: not a labelmap")
        labelmap = sitk.Cast(labelmap, sitk.sitkInt32)
    return labelmap


def _read_seg_nrrd(path: Path, tree: Optional[LabelTree]) -> TreeSegmentation:
    import slicerio

    try:
        document = slicerio.read_segmentation(str(path))
    except Exception as error:  # noqa: BLE001 - slicerio raises several kinds for a bad file
        raise InputImageError(f"cannot read {path.name} as a segmentation: {error}") from error
    segments = document.get("segments", [])
    paths = {i: (s.get("tags") or {}).get(TAG_TREE_PATH) for i, s in enumerate(segments)}
    if tree is None:
        tree = _stored_tree(document, paths, path)
    voxels = np.asarray(document["voxels"])
    layers = voxels if voxels.ndim == 4 else voxels[np.newaxis]
    label_nodes, unmapped = {}, {}
    for index, segment in enumerate(segments):
        code = index + 1  # one code per segment: layers are flattened into one labelmap
        node_id = paths[index] or ""
        try:
            label_nodes[code] = tree.index(node_id) if node_id else _by_name(tree, segment)
        except KeyError:
            unmapped[code] = node_id or str(segment.get("name", segment.get("id", code)))
    # slicerio's defaults for a segment without them (a binary segment in the first layer)
    placement = [(int(s.get("layer", 0)), int(s.get("labelValue", 1))) for s in segments]
    combined = combine_layers(layers, placement, path.name, [str(s.get("name", s.get("id", ""))) for s in segments])
    image = sitk.GetImageFromArray(combined.transpose(2, 1, 0))  # slicerio voxels are (i, j, k)
    set_geometry(image, np.asarray(document["ijkToLPS"], dtype=float))
    return TreeSegmentation(image, tree, label_nodes, unmapped)


def _by_name(tree: LabelTree, segment: dict) -> int:
    """A segment without a tree-path tag: its ID may be the path (as the CLI writes them)."""
    return tree.index(str(segment.get("id", "")))


def header_tree(document: Mapping, source: str) -> Optional[LabelTree]:
    """The label tree this project's writer stores in a ``.seg.nrrd`` header, or None."""
    text = document.get(HEADER_TREE)
    if not text:
        return None
    try:
        return LabelTree.from_json(text)
    except (TreeError, ValueError, KeyError, TypeError) as error:
        raise InputImageError(f"{source}: its stored label tree ({HEADER_TREE}) is damaged: {error}") from error


def _stored_tree(document: dict, paths: dict, path: Path) -> LabelTree:
    stored = header_tree(document, path.name)
    if stored is not None:
        return stored
    tagged = [tuple(p.split(",")) for p in paths.values() if p]
    if not tagged:
        raise InputImageError(f"{path.name} holds no SALT label tree and no segment tree paths; "
                              "give the tree (--tree)")
    leaves = [p for p in tagged if not any(len(q) > len(p) and q[:len(p)] == p for q in tagged)]
    logger.warning("%s has no stored tree; using the tree its %d segments span", path.name, len(tagged))
    return LabelTree.from_paths(leaves)

