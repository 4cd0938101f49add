"""Probability maps of chosen tree nodes, taken from the slab of leaf channels as it is swept.

Under SALT's tree softmax a node's probability is the sum of its leaves' probabilities (the
conditionals of every sibling group sum to 1), and blending is linear, so a node's Gaussian-blended
channel is the sum of its leaves' blended channels. The sweep already holds, for one slab,
``Σ_windows w · p(leaf)`` for every leaf; the weights' sum is the sum of those over the leaves
(leaf probabilities sum to 1, and an air window counts as certain background). So a finished
slice gives, with no extra accumulation:

* ``P(node) = Σ_{leaf ∈ node} slab[leaf] / Σ_leaves slab[leaf]`` — the blended node channel as
  SALT's ``sliding_window_inference_with_reduction`` blends it (same windows, same weights, same
  cleared slice), divided by the summed weights;
* the confidence: the chosen leaf's probability, ``max_leaf slab[leaf] / Σ_leaves slab[leaf]``.

Only the requested maps are kept, quantised to 16 bits (steps of 1/65535) on the processing grid:
2 bytes per processing voxel and map. They are mapped to the input grid one at a time, linearly,
when written or asked for. Nothing here runs unless a map was asked for.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np
import SimpleITK as sitk
import torch

from ..tree.labeltree import LabelTree
from .preprocess import Grid

#: The stored maps' scale: value / QUANTUM is the probability.
QUANTUM = 65535


@dataclass(frozen=True)
class NodeMapRequest:
    """Which maps a run keeps: tree nodes (leaves or internal) and the chosen leaf's probability."""

    nodes: tuple[int, ...] = ()
    #: Per node, the leaves (node indices) of its subtree.
    node_leaves: tuple[tuple[int, ...], ...] = ()
    confidence: bool = False

    @classmethod
    def for_tree(cls, tree: LabelTree, nodes: Sequence[int], confidence: bool = False) -> "NodeMapRequest":
        leaves = set(tree.leaves)
        unique = tuple(dict.fromkeys(int(node) for node in nodes))
        return cls(unique, tuple(tuple(n for n in tree.subtree(node) if n in leaves) for node in unique), confidence)

    @property
    def count(self) -> int:
        """Maps kept: one per node, plus the confidence."""
        return len(self.nodes) + int(self.confidence)

    def __bool__(self) -> bool:
        return self.count > 0


class NodeMapAccumulator:
    """Turns finished slices of the slab (``[L, x, Y, z]``, slab channel order) into the requested maps.

    ``maps`` is ``[count, Z, Y, X]`` uint16 over the whole (untrimmed) volume, i.e. SimpleITK's
    array order of the processing grid: the nodes in request order, then the confidence. The
    constant end slices the sweep leaves out are certain background, as their labels are.
    """

    def __init__(self, request: NodeMapRequest, slab_nodes: Sequence[int], volume_shape: Sequence[int],
                 z_range: tuple[int, int], background_leaf: int, device: torch.device) -> None:
        self.request = request
        self.z_start = z_range[0]
        channel = {int(node): c for c, node in enumerate(slab_nodes)}
        self.matrix: Optional[torch.Tensor] = None
        if request.nodes:
            matrix = torch.zeros((len(request.nodes), len(channel)), dtype=torch.float32)
            for row, leaves in enumerate(request.node_leaves):
                matrix[row, [channel[leaf] for leaf in leaves]] = 1.0
            self.matrix = matrix.to(device)
        x, y, z = (int(s) for s in volume_shape)
        self.maps = np.zeros((request.count, z, y, x), dtype=np.uint16)
        certain = [background_leaf in leaves for leaves in request.node_leaves] + [True] * int(request.confidence)
        for index, is_background in enumerate(certain):
            if is_background:  # the trimmed end slices: labelled background, with certainty
                self.maps[index, :z_range[0]] = QUANTUM
                self.maps[index, z_range[1]:] = QUANTUM

    def record(self, xs: slice, zs: slice, scores: torch.Tensor) -> None:
        """Rows ``xs`` of slices ``zs`` of the trimmed volume from their finished slab values
        ``scores`` ``[L, x, Y, z]``. Called from several threads at once, for disjoint blocks."""
        leaves, size_x, size_y, size_z = scores.shape
        flat = scores.reshape(leaves, -1)
        total = flat.sum(dim=0)
        inverse = torch.where(total > 0, total.reciprocal(), torch.zeros_like(total))
        rows = []
        if self.matrix is not None:
            rows.append(self.matrix @ flat)
        if self.request.confidence:
            rows.append(flat.amax(dim=0, keepdim=True))
        values = torch.cat(rows) if len(rows) > 1 else rows[0]
        quantised = values.mul_(inverse).clamp_(0.0, 1.0).mul_(QUANTUM).round_().to("cpu", torch.int32)
        stored = quantised.numpy().astype(np.uint16).reshape(-1, size_x, size_y, size_z)
        self.maps[:, self.z_start + zs.start:self.z_start + zs.stop, :, xs] = stored.transpose(0, 3, 2, 1)


@dataclass
class ProbabilityMaps:
    """The requested maps on the processing grid, mapped to the input grid (linearly) on demand."""

    nodes: tuple[int, ...]
    confidence: bool
    maps: np.ndarray  # [count, Z, Y, X] uint16, value / QUANTUM
    grid: Grid  # the processing grid (the network's LPI axes)
    target: Grid  # the input image's grid
    #: Per map, the probability outside the processing grid (certain background).
    outside: tuple[float, ...]

    @property
    def nbytes(self) -> int:
        return int(self.maps.nbytes)

    def node_image(self, node: int) -> sitk.Image:
        """``P(node)`` on the input grid, float32 in [0, 1]."""
        return self._image(self.nodes.index(node))

    def confidence_image(self) -> sitk.Image:
        """The chosen leaf's probability on the input grid, float32 in [0, 1]."""
        if not self.confidence:
            raise KeyError("no confidence map was computed")
        return self._image(len(self.nodes))

    def _image(self, index: int) -> sitk.Image:
        stored = self.grid.apply_to(sitk.GetImageFromArray(self.maps[index]))
        target = self.target
        resampled = sitk.Resample(stored, target.size, sitk.Transform(), sitk.sitkLinear, target.origin,
                                  target.spacing, target.direction, self.outside[index] * QUANTUM, sitk.sitkFloat32)
        return sitk.ShiftScale(resampled, 0.0, 1.0 / QUANTUM)


def probability_maps(request: NodeMapRequest, maps: np.ndarray, grid: Grid, target: Grid,
                     background_leaf: int) -> ProbabilityMaps:
    outside = tuple(float(background_leaf in leaves) for leaves in request.node_leaves)
    outside += (1.0,) * int(request.confidence)
    return ProbabilityMaps(request.nodes, request.confidence, maps, grid, target, outside)
