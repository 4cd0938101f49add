"""One voxel's probability of every tree node, by re-running only the windows that cover it.

``SegmentationResult.path_probabilities(ijk)`` answers "how sure is the model here, level by
level": spine 0.99, lumbar spine 0.97, L3 0.55 vs L4 0.41. Keeping every node's map to answer it
would cost ``N`` maps (145 for the published tree) of the whole scan; instead the result keeps a
reference to the input image and the loaded model (already in memory) and, per question, prepares
the scan again and runs the few windows whose blending reaches the voxel (at most 2 per axis with
SALT's overlap of 0.5, so usually 8; up to 27 where the voxel's interpolation neighbours straddle
window edges). Memory: nothing kept between questions; time: those windows (well under a second
each on a GPU; seconds to tens of seconds each on a CPU with the published network).

The value is the one the written maps hold at that voxel: each window's tree-softmax leaf
probabilities weighted by the same Gaussian and blended with the same slab rules (SALT's cleared
slice included), divided by the summed weights, then interpolated linearly onto the input voxel
as the maps are resampled (ITK's linear interpolation, edge voxels clamped).
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np
import SimpleITK as sitk
import torch

from ..errors import InputImageError
from ..model.model_io import SaltModel
from ..tree.labeltree import LabelTree
from .preprocess import Grid, prepare_volume, reorient
from .sliding_window import WindowGrid, WindowSettings, _Batcher, _is_air, _slab_order
from .window_network import window_predictor
from .window_placement import cleared_slices, gaussian_importance

#: Conditional probability below which the model is "no longer sure" at a step of the path.
SURE = 0.9

Int3 = tuple[int, int, int]


@dataclass(frozen=True)
class PathStep:
    node: str  # tree path
    name: str
    probability: float  # P(node): the product of the conditionals down to it
    conditional: float  # P(node | parent)


@dataclass(frozen=True)
class VoxelPath:
    """The path from the top of the tree to the voxel's leaf, with each node's probability."""

    index: Int3
    steps: tuple[PathStep, ...]
    #: The first step whose conditional is below ``sure`` (None: sure all the way down).
    unsure_step: Optional[int]
    #: The strongest sibling at that step.
    runner_up: Optional[PathStep]
    #: Every node's probability at the voxel, by tree path.
    probabilities: dict[str, float]

    def __str__(self) -> str:
        parts = [f"{step.name} {step.probability:.2f}" for step in self.steps]
        if self.unsure_step is not None and self.runner_up is not None:
            parts[self.unsure_step] += f" vs {self.runner_up.name} {self.runner_up.probability:.2f}"
        return ", ".join(parts)


def voxel_path(tree: LabelTree, index: Sequence[int], probabilities: np.ndarray, leaf: int,
               sure: float = SURE) -> VoxelPath:
    """The path to ``leaf`` read off ``probabilities`` (``[N]``, one per node)."""

    def step(node: int) -> PathStep:
        parent = tree.parent(node)
        above = 1.0 if parent is None else float(probabilities[parent])
        p = float(probabilities[node])
        return PathStep(tree.node_id(node), tree.display_name(node), p, p / above if above > 0 else 0.0)

    steps = tuple(step(node) for node in (*tree.ancestors(leaf), leaf))
    unsure = next((i for i, s in enumerate(steps) if s.conditional < sure), None)
    runner_up = None
    if unsure is not None:
        node = tree.index(steps[unsure].node)
        parent = tree.parent(node)
        siblings = [n for n in tree.children(parent) if n != node]
        if siblings:
            runner_up = step(max(siblings, key=lambda n: float(probabilities[n])))
    return VoxelPath(tuple(int(v) for v in index), steps, unsure, runner_up,  # type: ignore[arg-type]
                     {tree.node_id(n): float(probabilities[n]) for n in range(len(tree))})


def linear_neighbours(grid: Grid, point: Sequence[float]) -> list[tuple[Int3, float]]:
    """The processing voxels (x, y, z) ITK's linear interpolation reads at ``point`` and their
    weights; empty outside the grid (where resampling writes the default value)."""
    direction = np.asarray(grid.direction, dtype=float).reshape(3, 3) * np.asarray(grid.spacing, dtype=float)
    continuous = np.linalg.solve(direction, np.asarray(point, dtype=float) - np.asarray(grid.origin, dtype=float))
    axes = []
    for c, size in zip(continuous, grid.size):
        if not -0.5 <= c < size - 0.5:
            return []
        base = int(np.floor(c))
        fraction = float(c - base)
        axes.append([(min(max(base, 0), size - 1), 1.0 - fraction), (min(base + 1, size - 1), fraction)])
    weights: dict[Int3, float] = {}
    for (x, wx), (y, wy), (z, wz) in itertools.product(*axes):
        weights[(x, y, z)] = weights.get((x, y, z), 0.0) + wx * wy * wz
    return [(voxel, weight) for voxel, weight in weights.items() if weight > 0]


def discarded_until(grid: WindowGrid, placement: str) -> dict[int, int]:
    """Padded slice → the last window row (index into ``z_positions``) whose contributions to it
    the slab buffer clears when it moves on (SALT's extra cleared slice; none when flush)."""
    rz, starts = grid.roi[2], grid.z_positions
    discarded: dict[int, int] = {}
    for k in range(len(starts) - 1):
        finished = grid.finished_slices(k)
        cleared = cleared_slices(rz, finished, placement)
        for z in range(starts[k + 1] + rz - cleared, starts[k] + rz):
            discarded[z] = k
    return discarded


class VoxelProbe:
    """Recomputes the blended node probabilities at chosen voxels of one segmented image."""

    def __init__(self, image: sitk.Image, model: SaltModel, options, settings: WindowSettings) -> None:
        self.image, self.model, self.options, self.settings = image, model, options, settings

    def node_probabilities(self, index: Sequence[int]) -> np.ndarray:
        """``[N]``: every node's probability at input voxel ``index`` (i, j, k), as the maps hold it."""
        size = self.image.GetSize()
        if len(index) != 3 or not all(0 <= int(i) < n for i, n in zip(index, size)):
            raise InputImageError(f"voxel {tuple(index)} is outside the image (size {size})")
        tree = self.model.tree
        point = self.image.TransformIndexToPhysicalPoint([int(i) for i in index])
        config = self.model.config
        prepared = prepare_volume(reorient(self.image), config.voxel_spacing, config.intensity, already_oriented=True)
        neighbours = linear_neighbours(prepared.grid, point)
        background = self._background(tree)
        if not neighbours:
            return background
        blended = self._blended(prepared.array, [voxel for voxel, _ in neighbours], background)
        return np.sum([weight * values for (_, weight), values in zip(neighbours, blended)], axis=0)

    @staticmethod
    def _background(tree: LabelTree) -> np.ndarray:
        """Certain background: the background leaf (and nothing else) has probability 1."""
        value = tree.background_value if tree.background_value is not None else 0
        certain = np.zeros(len(tree))
        leaf = tree.leaf_for_value(value)
        certain[[leaf, *tree.ancestors(leaf)]] = 1.0
        return certain

    def _blended(self, volume: np.ndarray, voxels: list[Int3], background: np.ndarray) -> list[np.ndarray]:
        tree, settings, device = self.model.tree, self.settings, self.model.device
        grid = WindowGrid.over(volume, settings)
        predictor = window_predictor(self.model, self.options)
        leaves = torch.as_tensor(tree.leaves, dtype=torch.long)
        slab_nodes, _ = _slab_order(predictor, leaves, device)
        batcher = _Batcher(predictor, device, slab_nodes, len(tree), settings)
        channel = {node: c for c, node in enumerate(slab_nodes)}
        membership = np.zeros((len(tree), len(slab_nodes)))  # node ← its leaves' slab channels
        for node in range(len(tree)):
            for member in tree.subtree(node):
                if member in channel:
                    membership[node, channel[member]] = 1.0
        background_value = tree.background_value if tree.background_value is not None else 0
        certain = np.zeros(len(slab_nodes))
        certain[channel[tree.leaf_for_value(background_value)]] = 1.0
        importance = gaussian_importance(settings.roi_size, settings.sigma_scale, torch.device("cpu")).numpy()
        discarded = discarded_until(grid, settings.placement)
        (lx, ly, lz), (z_start, z_stop) = grid.low, grid.z_range
        padded = {v: (v[0] + lx, v[1] + ly, v[2] - z_start + lz) for v in voxels if z_start <= v[2] < z_stop}
        sums = {v: np.zeros(len(tree)) for v in padded}
        totals = {v: 0.0 for v in padded}
        (rx, ry, rz) = grid.roi
        for k, z0 in enumerate(grid.z_positions):
            for x0, y0 in grid.xy_positions:
                inside = [(v, (px - x0, py - y0, pz - z0)) for v, (px, py, pz) in padded.items()
                          if 0 <= px - x0 < rx and 0 <= py - y0 < ry and 0 <= pz - z0 < rz
                          and k > discarded.get(pz, -1)]
                if not inside:
                    continue
                leaf_probabilities = self._window_leaves(batcher, grid.window(x0, y0, z0), inside, certain)
                for (voxel, local), p in zip(inside, leaf_probabilities):
                    weight = float(importance[local])
                    sums[voxel] += weight * (membership @ p)
                    totals[voxel] += weight * float(p.sum())
        return [sums[v] / totals[v] if v in sums and totals[v] > 0 else background for v in voxels]

    def _window_leaves(self, batcher: _Batcher, window: torch.Tensor, inside: list, certain: np.ndarray
                       ) -> list[np.ndarray]:
        """The leaf probabilities (slab order) of one window at its voxels ``inside``."""
        windows = window[None, None].contiguous()
        if _is_air(windows, self.settings.skip_below)[0]:  # what the sweep adds for an air window
            return [certain for _ in inside]
        output = batcher(windows)
        values = output.values[0]
        xs, ys, zs = (torch.as_tensor([local[axis] for _, local in inside], device=values.device) for axis in range(3))
        chunk = values[:, xs, ys, zs].contiguous()
        leaves = torch.zeros((len(batcher.slab_nodes), len(inside)), dtype=torch.float32, device=values.device)
        output.reducer(chunk, torch.ones(len(inside), dtype=torch.float32, device=values.device), leaves)
        return list(leaves.double().cpu().numpy().T)
