"""Which voxels of a grid (the CT's, which is the probability maps') lie in a tree node: the union
of the segments of its subtree, read from the shared labelmap layers (one pass per layer, not one
per segment: a subtree such as *body* holds a hundred segments)."""
from __future__ import annotations

from typing import Iterator, Optional, Sequence

import numpy as np

from .labelmap_representation import ensure_binary_labelmap, labelmap_layers
from .segment_measurements import Grid, aligned_block, resampled_block


def segments_mask(segmentation_node, segment_ids: Sequence[str], grid_volume,
                  slices: Optional[tuple[int, int]] = None) -> np.ndarray:
    """A boolean k, j, i array on ``grid_volume``'s grid: True where one of ``segment_ids`` is.
    ``slices`` (first, stop): only those slices of the grid (the array holds just them)."""
    grid = Grid(grid_volume)
    first, stop = slices if slices is not None else (0, grid.shape[0])
    shape = (stop - first, *grid.shape[1:])
    if segment_ids:
        ensure_binary_labelmap(segmentation_node, grid_volume)
    mask: Optional[np.ndarray] = None
    for place, inside in _layer_masks(segmentation_node, set(segment_ids), grid, first, stop):
        if mask is None and inside.shape == shape:
            mask = inside  # the usual result: one shared layer over the whole CT, no copy
            continue
        if mask is None:
            mask = np.zeros(shape, dtype=bool)
        mask[place] |= inside
    return mask if mask is not None else np.zeros(shape, dtype=bool)


def _layer_masks(segmentation_node, wanted: set, grid: Grid, first: int,
                 stop: int) -> Iterator[tuple[tuple[slice, ...], np.ndarray]]:
    """Per labelmap layer holding some of ``wanted``: (its place among the grid's slices ``first``
    to ``stop``, where they are in it)."""
    if not wanted:
        return
    segmentation = segmentation_node.GetSegmentation()
    for image, layer_ids in labelmap_layers(segmentation):
        labels = [segmentation.GetSegment(sid).GetLabelValue() for sid in layer_ids if sid in wanted]
        if image is None or not labels:
            continue
        block, origin, aligned = aligned_block(image, grid)
        if not aligned:
            block, origin = resampled_block(image, grid)
        if block is None:
            continue
        low, high = max(origin[0], first), min(origin[0] + block.shape[0], stop)
        if low >= high:
            continue
        block = block[low - origin[0]:high - origin[0]]
        place = (slice(low - first, high - first),
                 *(slice(start, start + size) for start, size in zip(origin[1:], block.shape[1:])))
        yield place, in_labels(block, labels)


#: Up to this many runs of consecutive label values are tested as ranges; more, by a lookup table.
MAX_RANGES = 8


def label_runs(labels: Sequence[int]) -> list[tuple[int, int]]:
    """Sorted label values as runs of consecutive values: [3, 4, 5, 9] → [(3, 5), (9, 9)]. A
    subtree's leaves are consecutive in SALT's leaf order, so a node is usually one run."""
    runs: list[tuple[int, int]] = []
    for value in sorted(set(int(label) for label in labels)):
        if runs and value == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], value)
        else:
            runs.append((value, value))
    return runs


def in_labels(block: np.ndarray, labels: Sequence[int]) -> np.ndarray:
    """``block`` ∈ ``labels``: for unsigned layers one range test per run of consecutive values
    (``block - low < width`` wraps below ``low``: one pass, ~5 times faster than a table lookup),
    else a lookup table or ``isin``."""
    runs = label_runs(labels)
    if block.dtype.kind == "u" and len(runs) <= MAX_RANGES:
        top = np.iinfo(block.dtype).max
        mask = None
        for low, high in runs:
            if 0 <= low <= high <= top:
                inside = np.subtract(block, block.dtype.type(low)) <= block.dtype.type(high - low)
                mask = inside if mask is None else np.logical_or(mask, inside, out=mask)
        return mask if mask is not None else np.zeros(block.shape, dtype=bool)
    if block.dtype in (np.uint8, np.uint16):
        table = np.zeros(np.iinfo(block.dtype).max + 1, dtype=bool)
        table[[label for label in labels if 0 <= label < table.size]] = True
        return table[block]
    return np.isin(block, labels)
