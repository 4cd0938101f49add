"""A scene with a SALT result and its probability maps, as a run with *Probability maps* leaves it
(no tests here): the shared CT, the TotalSegmentator reference imported as the module imports a
result, and map files written by the engine's own writer, then imported by the module's importer."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import SimpleITK as sitk

from slicer_test_support import load_ct, new_scene, reference_result, salt_labels

SPINE, KIDNEYS, BONES = "body,bones,spine", "body,abdominal_cavity,kidneys", "body,bones"


@dataclass
class MapScene:
    scene: Any
    ct: Any
    segmentation: Any
    tree: Any
    #: SALT leaf value per voxel (k, j, i): what the segments hold.
    labels: np.ndarray
    #: The confidence map's stored bytes (value/255 = probability), k, j, i.
    confidence: np.ndarray
    #: Tree path → that node's map's stored bytes.
    node_maps: dict = field(default_factory=dict)
    files: dict = field(default_factory=dict)

    def node_voxels(self, node_id: str) -> np.ndarray:
        """The node's voxels by numpy from the labels (independent of the module's layer reading)."""
        return np.isin(self.labels, self.tree.subtree_label_values(node_id))


def write_map_files(folder: Path, reference: sitk.Image, nodes: Sequence[str], dtype: str = "uint8",
                    seed: int = 7) -> tuple[dict, str, dict]:
    """Random 0–1 maps on ``reference``'s grid written as the engine writes them: (node → file,
    confidence file, node or "" → the 0–1 values written)."""
    from saltseg.outputs.probability_maps import confidence_map_path, probability_map_path, write_probability_map

    rng = np.random.default_rng(seed)
    base = folder / "result.nrrd"
    values: dict = {}
    files: dict = {}
    for node in ("",) + tuple(nodes):
        probability = rng.random(sitk.GetArrayViewFromImage(reference).shape).astype(np.float32)
        image = sitk.GetImageFromArray(probability)
        image.CopyInformation(reference)
        path = confidence_map_path(base, dtype) if not node else probability_map_path(base, node, dtype)
        write_probability_map(image, path, dtype, node or "confidence")
        values[node] = probability
        if node:
            files[node] = str(path)
    return files, str(confidence_map_path(base, dtype)), values


def scene_with_maps(folder: Path, tree, nodes: Sequence[str] = (SPINE,)) -> MapScene:
    from SALTSegmentationLib.scene.importer import import_result
    from SALTSegmentationLib.scene.probability_maps import read_maps, replace_maps

    scene = new_scene()
    ct = load_ct(scene)
    segmentation = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "CT segmentation")
    segmentation.CreateDefaultDisplayNodes()
    result = reference_result(tree)
    import_result(result, segmentation, ct)
    files, confidence_file, values = write_map_files(folder, result.labelmap, nodes)
    replace_maps(segmentation, ct, read_maps(files, confidence_file, ct), tree)
    stored = {node: np.rint(value * 255).astype(np.uint8) for node, value in values.items()}
    labels, _ = salt_labels(tree)
    return MapScene(scene, ct, segmentation, tree, labels, stored.pop(""), stored,
                    {**files, "confidence": confidence_file})


def add_slice_views(scene, names: Sequence[str] = ("Red", "Yellow", "Green")) -> list:
    """The slice composite nodes Slicer's layout makes (one per slice view)."""
    views = []
    for name in names:
        composite = scene.AddNewNodeByClass("vtkMRMLSliceCompositeNode")
        composite.SetLayoutName(name)
        views.append(composite)
    return views


def add_confidence(editing, seed: int = 3) -> np.ndarray:
    """A confidence map (random bytes) for an :class:`editing_support.EditingScene`'s segmentation, as
    the importer adds one; returns its stored bytes."""
    from SALTSegmentationLib.scene.probability_maps import UINT8_SCALE, ReadMap, add_maps

    stored = np.random.default_rng(seed).integers(0, 256, size=editing.labels.shape, dtype=np.uint8)
    add_maps([ReadMap("", stored, 1.0 / UINT8_SCALE)], editing.segmentation, editing.volume, editing.tree)
    return stored


def expected_sure(tree, labels: np.ndarray, confidence: np.ndarray) -> dict[str, float]:
    """Tree path → mean confidence in percent over the node's voxels, by numpy from the label array
    (background excluded, as the panel shows no background)."""
    counts = np.bincount(labels.ravel(), minlength=65536)
    sums = np.bincount(labels.ravel(), weights=confidence.ravel().astype(np.float64), minlength=65536)
    sure = {}
    for node in range(len(tree)):
        values = [v for v in tree.subtree_label_values(node) if v != tree.background_value]
        voxels = int(counts[values].sum())
        if voxels:
            sure[tree.node_id(node)] = 100.0 * float(sums[values].sum()) / 255.0 / voxels
    return sure
