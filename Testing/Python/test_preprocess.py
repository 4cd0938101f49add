"""Preprocessing: LPI orientation (proved with an asymmetric marker), spacing, intensities."""
from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from saltseg.model.model_io import IntensityProperties
from saltseg.inference.preprocess import normalise_intensity, prepare_volume


def marker_image(direction, size=(20, 24, 16), spacing=(2.0, 2.0, 3.0)) -> tuple[sitk.Image, np.ndarray]:
    """-1000 HU everywhere except a bright voxel at a known physical (LPS) point."""
    image = sitk.Image(list(size), sitk.sitkInt16)
    image.SetSpacing(spacing)
    image.SetDirection(direction)
    image.SetOrigin((10.0, -20.0, 30.0))
    image += -1000
    index = (3, 5, 4)  # far from the centre on every axis
    image[index] = 1000
    return image, np.asarray(image.TransformIndexToPhysicalPoint(index))


LPS = (1, 0, 0, 0, 1, 0, 0, 0, 1)
RAS = (-1, 0, 0, 0, -1, 0, 0, 0, 1)
FLIPPED_Z = (1, 0, 0, 0, 1, 0, 0, 0, -1)
PERMUTED = (0, 0, 1, 1, 0, 0, 0, 1, 0)  # axes stored in a different order (e.g. sagittal)


def _oblique(degrees: float):
    a = np.deg2rad(degrees)
    rotation = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    return tuple(rotation.ravel())


@pytest.mark.parametrize("direction", [LPS, RAS, FLIPPED_Z, PERMUTED, _oblique(10)])
def test_network_axes_point_left_posterior_inferior(direction):
    image, marker_lps = marker_image(direction)
    prepared = prepare_volume(image, image.GetSpacing() if direction != PERMUTED else (2.0, 2.0, 2.0), None)
    array = prepared.array
    peak = np.unravel_index(np.argmax(array), array.shape)
    # The network grid's physical axes: column i of its direction is where array axis i points.
    grid_direction = np.asarray(prepared.grid.direction).reshape(3, 3)
    assert grid_direction[0, 0] > 0.9  # axis 0 → +x in LPS = patient's Left
    assert grid_direction[1, 1] > 0.9  # axis 1 → +y in LPS = Posterior
    assert grid_direction[2, 2] < -0.9  # axis 2 → -z in LPS = Inferior
    # And the marker voxel sits where the grid says that physical point is.
    grid_to_physical = grid_direction * np.asarray(prepared.grid.spacing)
    found = np.asarray(prepared.grid.origin) + grid_to_physical @ np.asarray(peak, dtype=float)
    assert np.linalg.norm(found - marker_lps) <= max(prepared.grid.spacing) + 1e-6


def test_left_marker_lands_at_high_axis0_index():
    """Marker on the patient's left: with the network's L axis it is at a high axis-0 index
    whatever the storage order, and a mirrored copy (patient's right) at a low one."""
    for direction in (LPS, RAS):
        image = sitk.Image([40, 10, 10], sitk.sitkInt16) - 1000
        image.SetDirection(direction)
        image.SetOrigin((0.0, 0.0, 0.0) if direction == LPS else (39.0, 9.0, 0.0))
        left_index = (35, 5, 5) if direction == LPS else (4, 5, 5)  # RAS: index x grows to the right
        image[left_index] = 1000
        assert image.TransformIndexToPhysicalPoint(left_index)[0] >= 35  # LPS +x: patient's left
        array = prepare_volume(image, (1.0, 1.0, 1.0), None).array
        assert np.unravel_index(np.argmax(array), array.shape)[0] >= 30


def test_intensity_transforms():
    hu = np.array([-2000.0, -1024.0, 0.0, 1024.0, 3000.0, 5000.0], dtype=np.float32)
    assert np.allclose(normalise_intensity(hu.copy(), None), [0, 0, 0.5, 1, 1, 1])
    z = normalise_intensity(hu.copy(), IntensityProperties(mean=50.0, std=100.0))
    assert np.allclose(z, (np.clip(hu, -1024, 3071) - 50.0) / 100.0)
