"""Post-processing: keep the largest connected foreground, then map labels onto the input grid."""
from __future__ import annotations

import numpy as np
import SimpleITK as sitk

from .preprocess import Grid, from_network_array


def keep_largest_component(labels: np.ndarray, background_value: int = 0) -> np.ndarray:
    """Zero every label outside the largest 26-connected component of the foreground union.

    This is SALT's default (MONAI ``KeepLargestConnectedComponentd(independent=False)``): the
    body is one connected object, so islands outside it (table, blanket, noise) are removed.
    """
    foreground = sitk.GetImageFromArray((labels != background_value).view(np.uint8))
    components = sitk.ConnectedComponent(foreground, True)  # fully connected = 26-neighbourhood
    if sitk.GetArrayViewFromImage(components).max() <= 1:
        return labels
    largest = sitk.RelabelComponent(components, sortByObjectSize=True) == 1
    result = labels.copy()
    result[sitk.GetArrayViewFromImage(largest) == 0] = background_value
    return result


def map_to_input_grid(labels_xyz: np.ndarray, processing_grid: Grid, input_image: sitk.Image,
                      background_value: int = 0) -> sitk.Image:
    """Nearest-neighbour resampling of network-grid labels onto the input image's exact grid
    (size, spacing, origin, direction), as SALT's ``SaveImaged`` does; the result overlays the
    input voxel for voxel whatever its orientation."""
    label_image = from_network_array(labels_xyz, processing_grid)
    return sitk.Resample(
        label_image, input_image, sitk.Transform(), sitk.sitkNearestNeighbor,
        float(background_value), label_image.GetPixelID(),
    )


def node_mask(labels: np.ndarray, label_values) -> np.ndarray:
    """Union mask of several label values (e.g. every leaf under an internal tree node)."""
    return np.isin(labels, np.asarray(list(label_values), dtype=labels.dtype))
