"""A straightforward per-segment reading of a ``.seg.nrrd`` (one mask per segment, painted in
segment order) to check the engine's one-lookup-per-layer reader against, and a multi-layer file
with overlapping segments written the way Slicer stores overlaps (a 4D layers×i×j×k array)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import slicerio

from saltseg.io.writers import HEADER_TREE, TAG_TREE_PATH
from saltseg.tree.labeltree import LabelTree


def per_segment_codes(path: Path) -> tuple[np.ndarray, list[str]]:
    """Code ``i + 1`` where segment ``i`` is, (k, j, i) order; later segments paint over earlier
    ones. Also the names of the segments that painted over an earlier one."""
    document = slicerio.read_segmentation(str(path))
    voxels = np.asarray(document["voxels"])
    layers = voxels if voxels.ndim == 4 else voxels[np.newaxis]
    segments = document["segments"]
    combined = np.zeros(layers.shape[1:], dtype=np.uint16 if len(segments) >= 255 else np.uint8)
    overlapping = []
    for index, segment in enumerate(segments):
        mask = layers[segment.get("layer", 0)] == segment.get("labelValue", 1)
        if combined[mask].any():
            overlapping.append(segment["name"])
        combined[mask] = index + 1
    return combined.transpose(2, 1, 0), overlapping


#: (tree path, layer, label value) per segment, in the file's segment order: layers interleaved,
#: two segments sharing layer 0's value 3, one segment with no voxel.
OVERLAP_SEGMENTS = (
    ("body,soft_tissue,muscle", 0, 1),
    ("body,fat", 1, 1),
    ("body,soft_tissue,organ_left", 0, 2),
    ("body,bone", 2, 7),
    ("body,soft_tissue,organ_right", 1, 4),
    ("body,soft_tissue,muscle", 0, 3),
    ("body,soft_tissue,organ_left", 0, 3),
    ("body,bone", 2, 9),
)


def write_overlapping_layers(path: Path, tree: LabelTree, seed: int = 0) -> Path:
    """A 3-layer ``.seg.nrrd`` of 20×16×12 voxels (i, j, k) on an oblique grid whose layers overlap
    each other in many voxels (up to three segments on one voxel), with ``tree`` in its header."""
    rng = np.random.default_rng(seed)
    shape = (20, 16, 12)
    layers = np.zeros((3,) + shape, dtype=np.uint8)
    layers[0] = rng.choice([0, 1, 2, 3, 5], size=shape)  # 5: a value no segment has
    layers[1] = rng.choice([0, 0, 1, 4], size=shape)
    layers[2, 4:15, 3:12, 2:9] = 7  # value 9 (the last segment) is absent: an empty segment
    segments = [{"id": f"segment_{i}", "name": f"{path_id} ({layer}/{value})", "labelValue": value,
                 "layer": layer, "color": [0.5, 0.5, 0.5], "tags": {TAG_TREE_PATH: path_id}}
                for i, (path_id, layer, value) in enumerate(OVERLAP_SEGMENTS)]
    ijk_to_lps = np.eye(4)
    angle = np.deg2rad(20.0)
    ijk_to_lps[:3, :3] = np.array([[np.cos(angle), -np.sin(angle), 0.0], [np.sin(angle), np.cos(angle), 0.0],
                                   [0.0, 0.0, 1.0]]) @ np.diag([0.8, 1.1, 2.5])
    ijk_to_lps[:3, 3] = (-12.0, 30.5, -400.0)
    slicerio.write_segmentation(str(path), {
        "voxels": layers, "ijkToLPS": ijk_to_lps, "segments": segments,
        "containedRepresentationNames": ["Binary labelmap"], "masterRepresentation": "Binary labelmap",
        HEADER_TREE: tree.to_json()})
    return path
