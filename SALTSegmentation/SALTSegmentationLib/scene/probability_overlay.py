"""A tree node's probability as a heat map over the CT in every slice view.

The node's own probability map when the run computed one; otherwise the confidence map (the
chosen leaf's probability) inside the node's voxels, in a volume of the overlay's own (hidden from
node selectors, not saved with the scene). Either is put in the slice views' foreground with a
foreground opacity; what each view showed before is remembered and given back by :meth:`clear`
— unless the user has put something else there meanwhile, which stays. The confidence inside a
node follows segment edits (:meth:`follow_edits`), computed again only where they changed it.
"""
from __future__ import annotations

import logging
from typing import Any, Collection, Iterable, Optional

import numpy as np
import vtk
from vtk.util import numpy_support

from .node_voxels import segments_mask
from .probability_maps import confidence_map, map_scale, map_voxels, node_maps, style_display
from .probability_colors import probability_color_node

logger = logging.getLogger(__name__)

OVERLAY_OPACITY = 0.5
#: What :meth:`ProbabilityOverlay.show` shows: the node's own map, or the confidence inside it.
PROBABILITY, CONFIDENCE = "probability", "confidence"
OVERLAY_NAME = "SALT probability overlay"
#: Changed slices at most this far apart are computed again as one run: a run reads every layer
#: holding the node once (resampled first where a layer is not on the map's grid).
RUN_GAP = 8


def _composite_nodes(scene) -> list:
    nodes = scene.GetNodesByClass("vtkMRMLSliceCompositeNode")
    return [nodes.GetItemAsObject(i) for i in range(nodes.GetNumberOfItems())]


def _voxels_of(volume, values: np.ndarray) -> Optional[np.ndarray]:
    """The volume's voxels (k, j, i) when they have ``values``' shape and type, else None."""
    image = volume.GetImageData()
    scalars = image.GetPointData().GetScalars() if image is not None else None
    if scalars is None or image.GetDimensions() != values.shape[::-1]:
        return None
    voxels = numpy_support.vtk_to_numpy(scalars)
    return voxels.reshape(values.shape) if voxels.dtype == values.dtype else None


def _runs(indices: Iterable[int], gap: int = 0) -> list[tuple[int, int]]:
    """Runs of indices as (first, stop), joined across at most ``gap`` missing ones:
    {3, 4, 5, 9} → [(3, 6), (9, 10)], or [(3, 10)] with a gap of 3."""
    runs: list[tuple[int, int]] = []
    for k in sorted(set(indices)):
        if runs and k <= runs[-1][1] + gap:
            runs[-1] = (runs[-1][0], k + 1)
        else:
            runs.append((k, k + 1))
    return runs


class ProbabilityOverlay:
    def __init__(self, opacity: float = OVERLAY_OPACITY) -> None:
        self.opacity = opacity
        self.scene: Any = None
        #: The volume in the views' foreground (a map, or :attr:`derived`), or None.
        self.volume: Any = None
        #: The overlay's own volume (confidence inside a node); removed by :meth:`clear`.
        self.derived: Any = None
        #: What is shown: :data:`PROBABILITY` or :data:`CONFIDENCE` ("" when nothing).
        self.kind = ""
        self.node_id = ""
        self.segmentation_node: Any = None
        #: Slices of the confidence inside the node computed by the last :meth:`follow_edits`.
        self.recomputed = 0
        #: Slice composite node ID → (its foreground volume ID, its foreground opacity) before.
        self._previous: dict[str, tuple[Optional[str], float]] = {}

    @property
    def shown(self) -> bool:
        return self.volume is not None

    def show(self, segmentation_node, node_id: str) -> str:
        """Show ``node_id``'s probability (a tree path) over the slice views; returns what is
        shown (:data:`PROBABILITY` or :data:`CONFIDENCE`), "" when the segmentation has no maps
        (then the overlay is cleared)."""
        scene = segmentation_node.GetScene() if segmentation_node is not None else None
        if scene is not self.scene:
            self.clear()
        own = node_maps(segmentation_node).get(node_id) if scene is not None else None
        confidence = confidence_map(segmentation_node) if own is None and scene is not None else None
        if own is None and confidence is None:
            self.clear()
            return ""
        self.scene = scene
        if own is not None:
            volume, kind = own, PROBABILITY
        else:
            volume, kind = self._confidence_inside(segmentation_node, node_id, confidence), CONFIDENCE
        self._into_views(volume)
        if own is not None:
            self._drop_derived()  # after the views have let go of it: their "before" stays theirs
        self.volume, self.kind, self.node_id, self.segmentation_node = volume, kind, node_id, segmentation_node
        return kind

    def follow_edits(self, segmentation_node, slices: Optional[Collection[int]] = None) -> str:
        """After segments of ``segmentation_node`` were edited: the confidence inside the shown node
        again, in the slices that changed (k on the confidence map's grid; None: any may have), so
        the heat map follows edits at the cost of their slices, in the slice views that show it (a
        view given another foreground meanwhile keeps it). Returns what is shown afterwards (""
        when nothing: the segmentation's maps went). A node's own map does not depend on the
        segments and is left as it is."""
        self.recomputed = 0
        if self.kind != CONFIDENCE or segmentation_node is not self.segmentation_node or self.derived is None:
            return self.kind
        confidence = confidence_map(segmentation_node)
        if confidence is None:
            self.clear()
            return self.kind
        values = map_voxels(confidence)
        voxels = _voxels_of(self.derived, values)
        if slices is None or voxels is None:
            self._confidence_inside(segmentation_node, self.node_id, confidence)  # all of it, in place
            self.recomputed = values.shape[0]
            return self.kind
        for first, stop in _runs((k for k in slices if 0 <= k < values.shape[0]), RUN_GAP):
            self._fill(segmentation_node, self.node_id, confidence, (first, stop), voxels)
            self.recomputed += stop - first
        return self.kind

    def clear(self) -> None:
        """Give the slice views back what they showed, and remove the overlay's own volume."""
        scene, volume = self.scene, self.volume
        if scene is not None and volume is not None:
            for composite in _composite_nodes(scene):
                before = self._previous.get(composite.GetID())
                if before is not None and composite.GetForegroundVolumeID() == volume.GetID():
                    was_modifying = composite.StartModify()
                    composite.SetForegroundVolumeID(before[0])
                    composite.SetForegroundOpacity(before[1])
                    composite.EndModify(was_modifying)
        self._drop_derived()
        self.scene, self.volume, self.kind, self.node_id, self._previous = None, None, "", "", {}
        self.segmentation_node = None

    # ------------------------------------------------------------------ internals
    def _into_views(self, volume) -> None:
        for composite in _composite_nodes(self.scene):
            before = composite.GetForegroundVolumeID()
            shown = self.volume is not None and before == self.volume.GetID()
            if composite.GetID() not in self._previous or not shown:
                self._previous[composite.GetID()] = (before, composite.GetForegroundOpacity())
            was_modifying = composite.StartModify()
            composite.SetForegroundVolumeID(volume.GetID())
            composite.SetForegroundOpacity(self.opacity)
            composite.EndModify(was_modifying)

    def _confidence_inside(self, segmentation_node, node_id: str, confidence):
        values = map_voxels(confidence)
        derived = self.derived
        if derived is None or derived.GetScene() is not self.scene:
            derived = self.derived = self._new_derived()
        matrix = vtk.vtkMatrix4x4()
        confidence.GetIJKToRASMatrix(matrix)
        derived.SetIJKToRASMatrix(matrix)
        derived.SetAndObserveTransformNodeID(confidence.GetTransformNodeID())
        self._fill(segmentation_node, node_id, confidence, (0, values.shape[0]), self._voxels_like(derived, values))
        style_display(derived.GetDisplayNode(), map_scale(confidence), probability_color_node(self.scene).GetID())
        return derived

    def _fill(self, segmentation_node, node_id: str, confidence, slices: tuple[int, int], voxels: np.ndarray) -> None:
        """The overlay's ``slices`` (first, stop): the confidence where ``node_id`` is, else 0."""
        from .subtrees import subtree_segment_ids

        first, stop = slices
        mask = segments_mask(segmentation_node, subtree_segment_ids(segmentation_node, node_id), confidence, slices)
        np.multiply(map_voxels(confidence)[first:stop], mask, out=voxels[first:stop])  # one pass, in place
        self.derived.GetImageData().Modified()

    @staticmethod
    def _voxels_like(derived, values: np.ndarray) -> np.ndarray:
        """The overlay volume's voxels (k, j, i), of ``values``' shape and type: kept from one
        selection to the next (no new 78 MB image per click on a 512×512×300 CT)."""
        voxels = _voxels_of(derived, values)
        if voxels is None:
            k, j, i = values.shape
            image = vtk.vtkImageData()
            image.SetDimensions(i, j, k)
            image.AllocateScalars(numpy_support.get_vtk_array_type(values.dtype), 1)
            derived.SetAndObserveImageData(image)
            voxels = numpy_support.vtk_to_numpy(image.GetPointData().GetScalars()).reshape(values.shape)
        return voxels

    def _new_derived(self):
        import slicer

        node = slicer.vtkMRMLScalarVolumeNode()
        node.SetName(OVERLAY_NAME)
        node.SetHideFromEditors(True)  # a view of a map, not data: no node selector offers it
        node.SetSaveWithScene(False)
        self.scene.AddNode(node)
        display = slicer.vtkMRMLScalarVolumeDisplayNode()
        display.SetSaveWithScene(False)
        self.scene.AddNode(display)
        node.SetAndObserveDisplayNodeID(display.GetID())
        return node

    def _drop_derived(self) -> None:
        derived, self.derived = self.derived, None
        if derived is not None and derived.GetScene() is not None:
            scene = derived.GetScene()
            display = derived.GetDisplayNode()
            scene.RemoveNode(derived)
            if display is not None and display.GetScene() is scene:
                scene.RemoveNode(display)
