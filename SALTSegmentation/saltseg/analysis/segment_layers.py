"""A ``.seg.nrrd``'s shared labelmap layers flattened into one labelmap, one code per segment.

Slicer stores segments in shared labelmap layers (``SegmentN_Layer``, ``SegmentN_LabelValue``):
each layer already is a labelmap, so one lookup table per layer (label value → code) relabels it in
one pass, however many segments it holds. Segment ``i`` gets code ``i + 1``. Where segments overlap
(in different layers, or sharing a layer's label value) the later segment wins, as in Slicer's
segment order; each segment that covers an earlier one is named in a warning.
"""
from __future__ import annotations

import logging
from typing import Optional, Sequence

import numpy as np
import SimpleITK as sitk

from ..errors import InputImageError

logger = logging.getLogger(__name__)

#: Widest range of label values one layer's lookup table covers (Slicer writes small positive values).
MAX_LOOKUP = 1 << 24


def _lookups(layer: np.ndarray, segments: Sequence[tuple[int, int]], dtype: np.dtype, name: str,
             number: int) -> tuple[np.ndarray, np.ndarray, int, dict[int, int]]:
    """One layer's tables (index: label value − offset) to the latest and to the earliest segment
    of each label value, the offset, and the segments that share a label value with an earlier
    one (code → value): they cover that one entirely."""
    if layer.dtype.kind not in "iu":
        raise InputImageError(f"{name}: layer {number} holds {layer.dtype} voxels, not integer label values")
    if layer.dtype.kind == "u" and layer.dtype.itemsize <= 2:
        low, high = 0, (1 << (8 * layer.dtype.itemsize)) - 1  # every value fits: no pass to find the range
    else:
        low, high = min(int(layer.min()), 0), int(layer.max())
    values = [value for value, _ in segments]
    low, high = min([low] + values), max([high] + values)
    if high - low >= MAX_LOOKUP:
        raise InputImageError(f"{name}: layer {number} holds label values {low}..{high}, too wide a range "
                              "for a segmentation")
    latest = np.zeros(high - low + 1, dtype=dtype)
    shadowing = {}
    for value, code in segments:  # codes grow in segment order: the later segment wins
        if latest[value - low]:
            shadowing[code] = value
        latest[value - low] = code
    earliest = latest
    if shadowing:
        earliest = latest.copy()
        for value, code in reversed(segments):
            earliest[value - low] = code
    return latest, earliest, low, shadowing


def _nonzero_minimum(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per voxel the smaller nonzero code of two (0 where both are 0): subtracting 1 wraps 0 around
    to the largest unsigned value, above every code."""
    return np.minimum(a - 1, b - 1) + 1


def combine_layers(layers: np.ndarray, segments: Sequence[tuple[int, int]], name: str,
                   names: Sequence[str]) -> np.ndarray:
    """One labelmap (the layers' voxel shape) with code ``i + 1`` where segment ``i`` is.

    ``layers``: ``(layer, …)`` label values; ``segments``: ``(layer, label value)`` per segment, in
    segment order; ``names``: the segments' names for the overlap warnings; ``name``: the file's.
    """
    dtype = np.dtype(np.uint16 if len(segments) >= 255 else np.uint8)
    by_layer: dict[int, list[tuple[int, int]]] = {}
    for segment, (layer_number, value) in enumerate(segments):
        if not 0 <= layer_number < len(layers):
            raise InputImageError(f"{name}: segment {names[segment]!r} is in layer {layer_number}, but the file has "
                                  f"{len(layers)} layer(s)")
        by_layer.setdefault(layer_number, []).append((value, segment + 1))
    # per voxel the latest segment on it, and the earliest (both None before the first layer)
    combined: Optional[np.ndarray] = None
    lowest: Optional[np.ndarray] = None
    warned: set[int] = set()
    for number in sorted(by_layer):
        # A layer of a 4D file is strided (the layer axis varies fastest): one copy speeds up every pass.
        layer = np.asfortranarray(layers[number])
        if layer.dtype == bool:
            layer = layer.view(np.uint8)  # a boolean array would index the table as a mask
        latest, earliest, low, shadowing = _lookups(layer, by_layer[number], dtype, name, number)
        index = layer.astype(np.int64) - low if low else layer
        codes = latest[index]
        firsts = codes if earliest is latest else earliest[index]
        warned.update(code for code, value in shadowing.items() if np.any(layer == value))
        if combined is None or lowest is None:
            combined, lowest = codes, firsts
            continue
        both = (codes > 0) & (lowest > 0)
        if both.any():
            # Of the segments on a voxel, every one but the earliest covers an earlier one. Those
            # already there but the earliest were named when they came; now the later of the new
            # earliest and the old earliest is.
            named = np.maximum(firsts, lowest)
            named *= both
            warned.update(np.unique(named).tolist())
            warned.discard(0)
        lowest = _nonzero_minimum(lowest, firsts)
        np.maximum(combined, codes, out=combined)
    for code in sorted(warned):
        logger.warning("%s: segment %r overlaps another; its overlapping voxels count for it only",
                       name, names[code - 1])
    return np.zeros(layers.shape[1:], dtype=dtype) if combined is None else combined


def set_geometry(image: sitk.Image, ijk_to_lps: np.ndarray) -> None:
    """Give ``image`` the grid of a ``.seg.nrrd`` (slicerio's ``ijkToLPS`` matrix)."""
    matrix = ijk_to_lps[:3, :3]
    spacing = np.linalg.norm(matrix, axis=0)
    image.SetSpacing(spacing.tolist())
    image.SetDirection((matrix / spacing).ravel().tolist())
    image.SetOrigin(ijk_to_lps[:3, 3].tolist())
