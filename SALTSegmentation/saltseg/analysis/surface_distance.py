"""Dice and normalised surface Dice (NSD) of two binary masks on one grid, in millimetres.

NSD (Nikolov et al. 2021): the fraction of both boundaries that lies within ``tolerance`` mm of
the other boundary. A boundary voxel is a mask voxel with a 6-neighbour outside the mask (outside
the image counts as outside), and distances are Euclidean in mm with the voxel spacing, so
anisotropic scans are measured correctly. Both empty: undefined (NaN); one empty: 0.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
from scipy import ndimage


def dice(prediction: np.ndarray, truth: np.ndarray) -> float:
    total = int(np.count_nonzero(prediction)) + int(np.count_nonzero(truth))
    if total == 0:
        return float("nan")
    return 2.0 * int(np.count_nonzero(prediction & truth)) / total


def _crop_to_union(prediction: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both masks cut to their union's bounding box plus one empty voxel on every side (so the
    erosion treats the image border as outside, and the distance transforms stay small)."""
    union = prediction | truth
    slices = ndimage.find_objects(union.astype(np.uint8))[0]
    return np.pad(prediction[slices], 1), np.pad(truth[slices], 1)


def _boundary(mask: np.ndarray) -> np.ndarray:
    return mask & ~ndimage.binary_erosion(mask)


def surface_dice(prediction: np.ndarray, truth: np.ndarray, spacing: Sequence[float],
                 tolerance_mm: float = 2.0) -> float:
    """NSD of boolean arrays; ``spacing`` in mm per array axis (numpy order: z, y, x)."""
    if tolerance_mm < 0:
        raise ValueError(f"the NSD tolerance must be >= 0 mm, got {tolerance_mm}")
    has_prediction, has_truth = bool(prediction.any()), bool(truth.any())
    if not has_prediction and not has_truth:
        return float("nan")
    if not (has_prediction and has_truth):
        return 0.0
    prediction, truth = _crop_to_union(prediction, truth)
    edge_prediction, edge_truth = _boundary(prediction), _boundary(truth)
    sampling = tuple(float(s) for s in spacing)
    to_truth = ndimage.distance_transform_edt(~edge_truth, sampling=sampling)[edge_prediction]
    to_prediction = ndimage.distance_transform_edt(~edge_prediction, sampling=sampling)[edge_truth]
    within = int(np.count_nonzero(to_truth <= tolerance_mm)) + int(np.count_nonzero(to_prediction <= tolerance_mm))
    return within / (to_truth.size + to_prediction.size)
