"""Per-label intensity histograms in one pass over the voxels, and statistics read from them.

For integer intensities (CT in HU) a histogram per label is exact: summing the histograms of a
subtree gives the histogram of the union, from which count, mean, standard deviation, minimum,
maximum and any percentile follow exactly (percentiles with numpy's default linear
interpolation). The voxels are visited once, in chunks, whatever the number of tree nodes.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

#: Voxels per chunk: bounds the temporaries (a few int64 arrays of this length).
CHUNK_VOXELS = 1 << 23
#: Widest integer range kept as a histogram (int16 CTs fit); wider or non-integer data is sorted.
MAX_BINS = (1 << 16) + 1
PERCENTILES = (5.0, 50.0, 95.0)


@dataclass(frozen=True)
class IntensitySummary:
    """Intensity statistics of one voxel set (population standard deviation, ddof 0)."""

    mean: float
    std: float
    minimum: float
    maximum: float
    p5: float
    median: float
    p95: float


def integer_range(values: np.ndarray) -> Optional[tuple[int, int]]:
    """``(low, high)`` when every value is an integer and the range fits :data:`MAX_BINS`."""
    if values.size == 0:
        return None
    low, high = values.min(), values.max()
    if not (np.isfinite(low) and np.isfinite(high)):
        return None
    if high - low + 1 > MAX_BINS:
        return None
    if values.dtype.kind == "f":
        for start in range(0, values.size, CHUNK_VOXELS):
            chunk = values[start:start + CHUNK_VOXELS]
            if not np.array_equal(chunk, np.floor(chunk)):
                return None
    return int(low), int(high)


def label_histograms(labels: np.ndarray, label_count: int, values: np.ndarray, low: int, high: int) -> np.ndarray:
    """``(label_count, high - low + 1)`` int64 counts; ``labels`` holds 0..label_count-1 per voxel
    (flat, like ``values``). One bincount per chunk over the combined (label, value) index."""
    bins = high - low + 1
    counts = np.zeros(label_count * bins, dtype=np.int64)
    for start in range(0, labels.size, CHUNK_VOXELS):
        index = labels[start:start + CHUNK_VOXELS].astype(np.int64) * bins
        chunk = values[start:start + CHUNK_VOXELS]
        # Small integer types add in place without a copy; floats (integral) and uint64 need one.
        index += chunk if chunk.dtype.kind in "iub" and chunk.dtype != np.uint64 else chunk.astype(np.int64)
        if low:
            index -= low
        counts += np.bincount(index, minlength=label_count * bins)
    return counts.reshape(label_count, bins)


def _kth(cumulative: np.ndarray, k: int) -> int:
    """Bin of the k-th smallest value (0-based)."""
    return int(np.searchsorted(cumulative, k, side="right"))


def summary_from_histogram(histogram: np.ndarray, low: int) -> Optional[IntensitySummary]:
    """Exact statistics of the values a histogram counts; None when it is empty."""
    nonzero = np.flatnonzero(histogram)
    if nonzero.size == 0:
        return None
    counts = histogram[nonzero]
    values = nonzero.astype(np.int64) + low
    # Python integers: sums of squares of a whole-body CT overflow float64 precision.
    n = int(counts.sum())
    total = int((counts * values).sum())
    squares = sum(int(c) * int(v) * int(v) for c, v in zip(counts.tolist(), values.tolist()))
    mean = total / n
    std = math.sqrt(max(n * squares - total * total, 0)) / n
    cumulative = np.cumsum(counts)

    def percentile(q: float) -> float:
        # numpy's default ("linear"): interpolate between the order statistics around q·(n−1).
        position = q / 100.0 * (n - 1)
        below = math.floor(position)
        above = min(below + 1, n - 1)
        v_below = float(values[_kth(cumulative, below)])
        v_above = float(values[_kth(cumulative, above)])
        return v_below + (v_above - v_below) * (position - below)

    p5, median, p95 = (percentile(q) for q in PERCENTILES)
    return IntensitySummary(mean, std, float(values[0]), float(values[-1]), p5, median, p95)


def summary_from_values(values: np.ndarray) -> Optional[IntensitySummary]:
    """The same statistics from the values themselves (non-integer or very wide intensities)."""
    if values.size == 0:
        return None
    values = values.astype(np.float64, copy=False)
    p5, median, p95 = np.percentile(values, PERCENTILES)
    return IntensitySummary(float(values.mean()), float(values.std()), float(values.min()),
                            float(values.max()), float(p5), float(median), float(p95))


def values_by_label(labels: np.ndarray, label_count: int, values: np.ndarray) -> list[np.ndarray]:
    """The values of each label (one stable sort of the voxels by label)."""
    order = np.argsort(labels, kind="stable")
    bounds = np.searchsorted(labels[order], np.arange(label_count + 1))
    return [values[order[bounds[v]:bounds[v + 1]]] for v in range(label_count)]


def merged_values(parts: Sequence[np.ndarray]) -> np.ndarray:
    return np.concatenate(parts) if parts else np.empty(0)
