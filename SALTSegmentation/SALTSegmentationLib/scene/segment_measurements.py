"""Voxels, volume and CT intensity sum of every segment, kept up to date cheaply while segments are
edited: what the Structures panel shows (volume and mean HU of each tree node follow by summing).

Measured on the CT's grid (the grid the exported statistics use), or without a CT on each labelmap
layer's own grid. One :class:`~.layer_tally.LayerTally` per shared labelmap layer: after a Segment
Editor stroke only the layers whose data changed are compared with their copy, and only the
changed slices are counted again, so a paint burst costs milliseconds instead of a full pass over
the CT. A layer whose grid is the CT's up to a whole-voxel shift (the Segment Editor paints on the
CT's grid) is read in place; another layer is resampled onto the CT's grid first (nearest
neighbour, as the statistics do), which costs a full pass on every change.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Optional

import numpy as np
import slicer
import vtk
from vtk.util import numpy_support

from .labelmap_representation import ensure_binary_labelmap, labelmap_layers
from .layer_tally import Box, LayerTally

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SegmentMeasurement:
    voxels: int
    volume_ml: float
    hu_sum: Optional[float] = None  # sum of the CT's intensities over the segment; None without a CT


def _matrix(getter) -> np.ndarray:
    matrix = vtk.vtkMatrix4x4()
    getter(matrix)
    return np.array([[matrix.GetElement(r, c) for c in range(4)] for r in range(4)])


def _voxels(image) -> Optional[np.ndarray]:
    """An image's single-component scalars as a k, j, i view (None: no voxels)."""
    if image is None or image.GetPointData() is None:
        return None
    scalars = image.GetPointData().GetScalars()
    extent = image.GetExtent()
    dims = (extent[5] - extent[4] + 1, extent[3] - extent[2] + 1, extent[1] - extent[0] + 1)
    if scalars is None or min(dims) <= 0 or scalars.GetNumberOfComponents() != 1:
        return None
    return numpy_support.vtk_to_numpy(scalars).reshape(dims)


class Grid:
    """The CT's grid: its voxels (k, j, i), IJK→RAS, and what identifies its content."""

    def __init__(self, volume_node) -> None:
        self.image = image = volume_node.GetImageData()  # held: its Python wrapper stays the same
        self.ijk_to_ras = _matrix(volume_node.GetIJKToRASMatrix)
        self.ras_to_ijk = np.linalg.inv(self.ijk_to_ras)
        self.intensities = _voxels(image)
        dims = image.GetDimensions()
        self.shape = (dims[2], dims[1], dims[0])
        self.voxel_ml = float(np.prod(np.linalg.norm(self.ijk_to_ras[:3, :3], axis=0))) / 1000.0
        self.signature = (image.GetMTime(), tuple(self.ijk_to_ras.ravel().round(6)))

    def same_voxels(self, other: "Grid") -> bool:
        return self.image is other.image and self.signature == other.signature


def aligned_block(image, grid: Grid) -> tuple[Optional[np.ndarray], Box, bool]:
    """The layer's voxels inside the CT's grid, read in place where the layer's grid is the CT's
    shifted by whole voxels: (block k, j, i, its first voxel's index on the CT grid, aligned?)."""
    to_ct = grid.ras_to_ijk @ _matrix(image.GetImageToWorldMatrix)
    shift = np.rint(to_ct[:3, 3])
    if not (np.allclose(to_ct[:3, :3], np.eye(3), atol=1e-4) and np.allclose(to_ct[:3, 3], shift, atol=1e-3)):
        return None, (0, 0, 0), False
    voxels = _voxels(image)
    if voxels is None:
        return None, (0, 0, 0), True
    extent = image.GetExtent()
    low = [int(extent[4] + shift[2]), int(extent[2] + shift[1]), int(extent[0] + shift[0])]
    start = [max(0, -v) for v in low]
    stop = [min(voxels.shape[a], grid.shape[a] - low[a]) for a in range(3)]
    if any(b <= a for a, b in zip(start, stop)):
        return None, (0, 0, 0), True  # entirely outside the CT
    block = voxels[start[0]:stop[0], start[1]:stop[1], start[2]:stop[2]]
    return block, (low[0] + start[0], low[1] + start[1], low[2] + start[2]), True


def resampled_block(image, grid: Grid) -> tuple[Optional[np.ndarray], Box]:
    reference = slicer.vtkOrientedImageData()
    reference.SetDimensions(grid.shape[2], grid.shape[1], grid.shape[0])
    matrix = vtk.vtkMatrix4x4()
    for r in range(4):
        for c in range(4):
            matrix.SetElement(r, c, grid.ijk_to_ras[r, c])
    reference.SetImageToWorldMatrix(matrix)
    resampled = slicer.vtkOrientedImageData()
    # Not padded: the output is exactly the CT's grid (voxels outside it are not measured).
    if not slicer.vtkOrientedImageDataResample.ResampleOrientedImageToReferenceOrientedImage(
            image, reference, resampled, False, False):
        return None, (0, 0, 0)
    return _voxels(resampled), (0, 0, 0)


class _Layer:
    def __init__(self, image) -> None:
        self.image = image  # held, so the layer object (and its Python wrapper) stays the same
        self.tally = LayerTally()
        self.seen_mtime: Optional[int] = None
        self.voxel_ml = 0.0
        self.own_grid: Optional[tuple] = None  # without a CT: the layer's IJK→RAS the tally counts on


class SegmentMeasurements:
    """Per-segment voxels, volume and intensity sum of a segmentation, on ``volume_node``'s grid
    (None: each layer's own grid, volumes only). Keep one per shown segmentation and call
    :meth:`measure` after every edit; :meth:`release` frees the layer copies."""

    def __init__(self, volume_node=None) -> None:
        self.volume_node = volume_node
        self._grid: Optional[Grid] = None
        self._layers: list[_Layer] = []
        #: Slices counted again by the last :meth:`measure` (for the benchmark and tests).
        self.recounted = 0
        #: The grid's slices whose labels the last :meth:`measure` found changed (in any layer);
        #: None when it cannot tell (first measure, a new or vanished layer, another grid).
        self.changed_slices: Optional[set[int]] = None
        #: Segment ID → (its layer, its label value) at the last :meth:`measure`: voxels unchanged
        #: can still belong to other segments.
        self._places: dict[str, tuple[int, int]] = {}

    def release(self) -> None:
        self._layers, self._grid = [], None

    def _current_grid(self) -> Optional[Grid]:
        volume = self.volume_node
        if volume is None or volume.GetImageData() is None:
            return None
        grid = Grid(volume)
        if grid.intensities is None:
            return None
        if self._grid is None or not self._grid.same_voxels(grid):
            self._layers = []  # another CT, or its voxels changed: count everything again
        self._grid = grid
        return grid

    def _layer(self, image) -> _Layer:
        for layer in self._layers:
            if layer.image is image:
                return layer
        layer = _Layer(image)
        self._layers.append(layer)
        return layer

    def measure(self, segmentation_node) -> dict[str, SegmentMeasurement]:
        """Segment ID → its measurement, for every segment of the segmentation (a non-labelmap
        segmentation gets its labelmap first: :func:`.labelmap_representation.ensure_binary_labelmap`)."""
        grid = self._current_grid()
        ensure_binary_labelmap(segmentation_node, self.volume_node if grid is not None else None)
        segmentation = segmentation_node.GetSegmentation()
        results: dict[str, SegmentMeasurement] = {}
        kept: list[_Layer] = []
        self.recounted = 0
        before = len(self._layers)
        changed: Optional[set[int]] = set()
        places: dict[str, tuple[int, int]] = {}
        for image, segment_ids in labelmap_layers(segmentation):
            if image is None:
                continue
            layer = self._layer(image)
            kept.append(layer)
            if layer.seen_mtime != image.GetMTime():  # painted, or new: compare with the copy
                self._update(layer, grid)
                layer.seen_mtime = image.GetMTime()
                changed = None if changed is None or layer.tally.changed is None else changed | set(layer.tally.changed)
            counts, sums = layer.tally.totals()
            for segment_id in segment_ids:
                label = segmentation.GetSegment(segment_id).GetLabelValue()
                places[segment_id] = (id(layer), label)
                voxels = int(counts[label]) if 0 < label < counts.size else 0
                hu_sum = None
                if grid is not None:
                    hu_sum = float(sums[label]) if sums is not None and 0 < label < sums.size else 0.0
                results[segment_id] = SegmentMeasurement(voxels, voxels * layer.voxel_ml, hu_sum)
        same = len(kept) >= before and grid is not None and places == self._places
        self.changed_slices, self._places = (changed if same else None), places
        self._layers = kept  # layers that went (segments removed, layers collapsed) are let go
        return results

    def _update(self, layer: _Layer, grid: Optional[Grid]) -> None:
        image = layer.image
        if grid is None:  # the layer's own grid: its extent is already in whole voxels of it
            extent = image.GetExtent()
            block, origin = _voxels(image), (extent[4], extent[2], extent[0])
            matrix = _matrix(image.GetImageToWorldMatrix)
            geometry = tuple(matrix.ravel().round(6))
            if layer.own_grid != geometry:  # resampled: its voxel indices mean other places now
                layer.tally, layer.own_grid = LayerTally(), geometry
            layer.voxel_ml = float(np.prod(np.linalg.norm(matrix[:3, :3], axis=0))) / 1000.0
            self.recounted += layer.tally.update(block, origin, None)
            return
        block, origin, aligned = aligned_block(image, grid)
        if not aligned:
            logger.info("a labelmap layer is not on the CT's grid: resampling it on every change")
            block, origin = resampled_block(image, grid)
        layer.voxel_ml = grid.voxel_ml
        self.recounted += layer.tally.update(block, origin, grid.intensities)
