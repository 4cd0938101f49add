"""The engine's probability maps as scalar volumes that belong to their segmentation.

A run asked for probability maps (``segment(confidence=True, probabilities=[...])``) sends back one
file per tree node and the confidence (the chosen leaf's probability per voxel). Each becomes a
scalar volume on the CT's grid, kept as the engine stored it: uint8 (value/255 = probability, a
quarter of float's memory) or float32 (0–1). Each map carries its scale (``SALT.ProbabilityScale``)
and its tree node (``SALT.ProbabilityNode``; empty for the confidence).

They stay out of the user's way: the segmentation references them (node references, which survive
saving and reloading the scene and ID changes), and the subject hierarchy shows them in a folder
under the segmentation. They go with the result: a new run into the segmentation replaces them, and
removing the segmentation removes them (:class:`MapOwnerWatch`).
"""
from __future__ import annotations

import logging
import weakref
from dataclasses import dataclass
from typing import Mapping, Optional

import numpy as np
import SimpleITK as sitk
import slicer
import vtk
from vtk.util import numpy_support

from .mrml_helpers import ijk_to_ras, remove_node_with_dependents

logger = logging.getLogger(__name__)

#: Segmentation → its maps of tree nodes, and its confidence map (node reference roles).
ROLE_NODE_MAP = "SALTProbabilityMap"
ROLE_CONFIDENCE = "SALTConfidenceMap"
#: On a map: the tree path it is the probability of ("" for the confidence), and the factor that
#: turns a voxel value into a probability (1/255 for uint8 maps, 1 for float maps).
ATTRIBUTE_NODE = "SALT.ProbabilityNode"
ATTRIBUTE_SCALE = "SALT.ProbabilityScale"
FOLDER_NAME = "Probability maps"
UINT8_SCALE = 255


@dataclass
class ReadMap:
    """A map read from the engine's file, not yet in the scene."""

    node_id: str  # tree path; "" for the confidence
    voxels: np.ndarray  # k, j, i on the CT's grid
    scale: float


def _read(path: str, node_id: str, volume_node) -> ReadMap:
    """A map file as stored values: a NIfTI of bytes (whose header scales them by 1/255, so ITK
    reads 0–1 floats) back to its bytes; float maps as float32."""
    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    reader.ReadImageInformation()
    one_byte = reader.HasMetaDataKey("bitpix") and reader.GetMetaData("bitpix").strip() == "8"
    image = reader.Execute()
    dims = volume_node.GetImageData().GetDimensions()
    if tuple(image.GetSize()) != tuple(dims):
        what = f"the probability map of {node_id}" if node_id else "the confidence map"
        raise ValueError(f"{what} has the grid {image.GetSize()}, the volume {dims}")
    values = sitk.GetArrayViewFromImage(image)
    if one_byte:
        return ReadMap(node_id, _bytes(values), 1.0 / UINT8_SCALE)
    return ReadMap(node_id, np.array(values, dtype=np.float32), 1.0)  # a copy: the view dies with the image


def _bytes(probability: np.ndarray, slab: int = 16) -> np.ndarray:
    """0–1 values read from a byte map back to its bytes, ``slab`` slices at a time (small float
    temporaries: ~3 times faster than whole-volume passes on a 512×512×300 map)."""
    stored = np.empty(probability.shape, dtype=np.uint8)
    for start in range(0, probability.shape[0], slab):
        part = np.clip(probability[start:start + slab], 0.0, 1.0) * np.float32(UINT8_SCALE)
        stored[start:start + slab] = np.rint(part, out=part)
    return stored


def read_maps(probability_maps: Mapping[str, str], confidence_map: Optional[str], volume_node) -> list[ReadMap]:
    """Every map the engine sent (tree path → file, and the confidence file or None), read and
    checked before the scene changes, so a bad file leaves the scene as it was. The confidence first."""
    maps = [_read(confidence_map, "", volume_node)] if confidence_map else []
    return maps + [_read(path, node_id, volume_node) for node_id, path in probability_maps.items()]


def _volume(scene, name: str, read: ReadMap, volume_node, color_node_id: str):
    node = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", name)
    image = vtk.vtkImageData()
    k, j, i = read.voxels.shape
    image.SetDimensions(i, j, k)
    image.GetPointData().SetScalars(numpy_support.numpy_to_vtk(read.voxels.ravel(), deep=True))
    node.SetIJKToRASMatrix(ijk_to_ras(volume_node))
    node.SetAndObserveImageData(image)
    node.SetAndObserveTransformNodeID(volume_node.GetTransformNodeID())
    node.SetAttribute(ATTRIBUTE_NODE, read.node_id)
    node.SetAttribute(ATTRIBUTE_SCALE, repr(read.scale))
    display = scene.AddNewNodeByClass("vtkMRMLScalarVolumeDisplayNode")
    style_display(display, read.scale, color_node_id)
    node.SetAndObserveDisplayNodeID(display.GetID())
    return node


def style_display(display, scale: float, color_node_id: str) -> None:
    """Probability 0–1 over the colour table; below one step transparent (a heat map over the CT)."""
    top = 1.0 / scale
    was_modifying = display.StartModify()
    display.SetAndObserveColorNodeID(color_node_id)
    display.SetAutoWindowLevel(False)
    display.SetWindowLevelMinMax(0.0, top)
    display.SetApplyThreshold(True)
    display.SetLowerThreshold(1.0 if scale != 1.0 else 1.0 / UINT8_SCALE)
    display.SetUpperThreshold(top)
    display.SetInterpolate(False)
    display.EndModify(was_modifying)


def _display_name(tree, node_id: str) -> str:
    if tree is not None and node_id and tuple(node_id.split(",")) in set(tree.paths):
        return tree.display_name(node_id)
    return node_id.rsplit(",", 1)[-1].replace("_", " ")


def add_maps(maps: list[ReadMap], segmentation_node, volume_node, tree=None) -> list:
    """Put read maps into the scene as the segmentation's (after :func:`remove_maps`)."""
    from .probability_colors import probability_color_node

    if not maps:
        return []
    scene = segmentation_node.GetScene()
    color_id = probability_color_node(scene).GetID()
    base = segmentation_node.GetName()
    nodes = []
    for read in maps:
        name = f"{base} confidence" if not read.node_id else f"{base} probability: {_display_name(tree, read.node_id)}"
        node = _volume(scene, name, read, volume_node, color_id)
        segmentation_node.AddNodeReferenceID(ROLE_NODE_MAP if read.node_id else ROLE_CONFIDENCE, node.GetID())
        nodes.append(node)
    _place_in_folder(segmentation_node, nodes)
    logger.info("imported %d probability map(s) for %r", len(nodes), base)
    return nodes


def _place_in_folder(segmentation_node, nodes: list) -> None:
    scene = segmentation_node.GetScene()
    sh = slicer.vtkMRMLSubjectHierarchyNode.GetSubjectHierarchyNode(scene)
    if sh is None:
        return
    owner = sh.GetItemByDataNode(segmentation_node)
    if owner == sh.GetInvalidItemID():
        owner = sh.CreateItem(sh.GetSceneItemID(), segmentation_node)
    folder = _folder(sh, owner) or sh.CreateFolderItem(owner, FOLDER_NAME)
    sh.SetItemExpanded(folder, False)
    for node in nodes:
        item = sh.GetItemByDataNode(node)
        if item == sh.GetInvalidItemID():
            sh.CreateItem(folder, node)
        else:
            sh.SetItemParent(item, folder)


def _folder(sh, owner: int) -> Optional[int]:
    children = vtk.vtkIdList()
    sh.GetItemChildren(owner, children)
    for index in range(children.GetNumberOfIds()):
        item = children.GetId(index)
        if sh.GetItemDataNode(item) is None and sh.GetItemName(item) == FOLDER_NAME:
            return item
    return None


def map_nodes(segmentation_node) -> list:
    """Every map of the segmentation: the confidence first, then the tree nodes' maps."""
    if segmentation_node is None:
        return []
    nodes = []
    for role in (ROLE_CONFIDENCE, ROLE_NODE_MAP):
        for index in range(segmentation_node.GetNumberOfNodeReferences(role)):
            node = segmentation_node.GetNthNodeReference(role, index)
            if node is not None and node.GetImageData() is not None:
                nodes.append(node)
    return nodes


def confidence_map(segmentation_node):
    """The segmentation's confidence map (a scalar volume), or None."""
    if segmentation_node is None:
        return None
    node = segmentation_node.GetNodeReference(ROLE_CONFIDENCE)
    return node if node is not None and node.GetImageData() is not None else None


def node_maps(segmentation_node) -> dict[str, object]:
    """Tree path → the scalar volume holding that node's probability."""
    return {node.GetAttribute(ATTRIBUTE_NODE): node for node in map_nodes(segmentation_node)
            if node.GetAttribute(ATTRIBUTE_NODE)}


def maps_by_name(segmentation_node) -> dict[str, object]:
    """``{"confidence": its volume, tree path: the node's volume, ...}``."""
    confidence = confidence_map(segmentation_node)
    return {**({"confidence": confidence} if confidence is not None else {}), **node_maps(segmentation_node)}


def resolve_node_id(segmentation_node, node) -> str:
    """A tree node named by path or name (``"spine"``, ``"body,bones,spine"``, a tuple) → its path,
    by the segmentation's tree; :class:`saltseg.errors.TreeError` naming what is not in it."""
    from saltseg.analysis.subsets import resolve_structure

    from .tree_storage import load_tree

    text = node if isinstance(node, str) else ",".join(node)
    tree = load_tree(segmentation_node)
    return text if tree is None else tree.node_id(resolve_structure(tree, text))


def map_scale(map_node) -> float:
    """The factor from a map's voxel value to a probability."""
    text = map_node.GetAttribute(ATTRIBUTE_SCALE)
    try:
        return float(text) if text else 1.0 / UINT8_SCALE
    except ValueError:
        return 1.0 / UINT8_SCALE


def map_voxels(map_node) -> np.ndarray:
    """A map's stored values as a k, j, i view (no copy)."""
    image = map_node.GetImageData()
    i, j, k = image.GetDimensions()
    return numpy_support.vtk_to_numpy(image.GetPointData().GetScalars()).reshape(k, j, i)


def remove_maps(segmentation_node) -> int:
    """Remove the segmentation's maps (with their display nodes) and their folder; returns how many."""
    scene = segmentation_node.GetScene() if segmentation_node is not None else None
    if scene is None:
        return 0
    nodes = map_nodes(segmentation_node)
    for role in (ROLE_CONFIDENCE, ROLE_NODE_MAP):
        segmentation_node.RemoveNodeReferenceIDs(role)
    for node in nodes:
        remove_node_with_dependents(node)
    sh = slicer.vtkMRMLSubjectHierarchyNode.GetSubjectHierarchyNode(scene)
    if sh is not None:
        owner = sh.GetItemByDataNode(segmentation_node)
        folder = _folder(sh, owner) if owner != sh.GetInvalidItemID() else None
        if folder is not None:
            sh.RemoveItem(folder, False, False)
    return len(nodes)


def replace_maps(segmentation_node, volume_node, maps: list[ReadMap], tree=None) -> list:
    """The result's maps in place of the segmentation's former ones (none: the former ones go)."""
    remove_maps(segmentation_node)
    return add_maps(maps, segmentation_node, volume_node, tree)


class MapOwnerWatch:
    """Removes a segmentation's maps when the segmentation is removed from the scene (the
    references are still readable just before). One observer per scene; the logic holds one. The
    scenes are held weakly: watching a scene must not keep it alive."""

    def __init__(self) -> None:
        self._scenes: list[tuple[weakref.ref, int]] = []

    def watch(self, scene) -> None:
        self._scenes = [(known, tag) for known, tag in self._scenes if known() is not None]
        if scene is None or any(known() is scene for known, _ in self._scenes):
            return
        self._scenes.append((weakref.ref(scene), scene.AddObserver(scene.NodeAboutToBeRemovedEvent, self._removing)))

    def stop(self) -> None:
        for known, tag in self._scenes:
            scene = known()
            if scene is not None:
                scene.RemoveObserver(tag)
        self._scenes = []

    @vtk.calldata_type(vtk.VTK_OBJECT)
    def _removing(self, scene, event, node) -> None:
        if scene is None or node is None or scene.IsClosing() or not node.IsA("vtkMRMLSegmentationNode"):
            return  # a closing (or vanishing) scene removes the maps itself
        if map_nodes(node):
            remove_maps(node)
