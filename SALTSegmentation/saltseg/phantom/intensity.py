"""Hounsfield units for a labelled phantom: tissue means, smooth texture, partial volume, noise.

Each tissue gets a mean HU (drawn around textbook values per phantom, so the model cannot rely on
exact numbers) and a texture amplitude applied to a smooth random field, which stands in for
vessels, trabecular bone and bowel content. The labelled image is then blurred (in-plane point
spread plus the slice profile of the slice thickness: the partial-volume effect) and given
scanner noise.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage

from .anatomy import Rasteriser
from .tree import PHANTOM_LEAF_PATHS, value_of_path

AIR_HU = -1000.0

#: leaf path → (mean HU, ± random offset per phantom, texture amplitude HU)
TISSUE_HU: dict[str, tuple[float, float, float]] = {
    "background": (AIR_HU, 0.0, 0.0),
    "body,subcutaneous_tissue": (-100.0, 15.0, 15.0),
    "body,muscles,autochthon_left": (50.0, 8.0, 12.0),
    "body,muscles,autochthon_right": (50.0, 8.0, 12.0),
    "body,muscles,other": (45.0, 8.0, 14.0),
    "body,bones,spine,cervical_spine": (420.0, 60.0, 90.0),
    "body,bones,spine,thoracic_spine": (380.0, 60.0, 90.0),
    "body,bones,spine,lumbar_spine": (340.0, 60.0, 90.0),
    "body,bones,rib_cage,ribs_left": (520.0, 70.0, 110.0),
    "body,bones,rib_cage,ribs_right": (520.0, 70.0, 110.0),
    "body,bones,pelvis,hip_left": (420.0, 60.0, 110.0),
    "body,bones,pelvis,hip_right": (420.0, 60.0, 110.0),
    "body,bones,pelvis,sacrum": (360.0, 60.0, 90.0),
    "body,thoracic_cavity,lungs,lung_left": (-840.0, 30.0, 45.0),
    "body,thoracic_cavity,lungs,lung_right": (-840.0, 30.0, 45.0),
    "body,thoracic_cavity,mediastinum,heart": (110.0, 25.0, 15.0),
    "body,thoracic_cavity,mediastinum,aorta": (190.0, 40.0, 10.0),
    "body,thoracic_cavity,mediastinum,other": (-40.0, 20.0, 40.0),
    "body,abdominal_cavity,liver": (100.0, 15.0, 10.0),
    "body,abdominal_cavity,spleen": (115.0, 15.0, 10.0),
    "body,abdominal_cavity,stomach": (25.0, 10.0, 12.0),
    "body,abdominal_cavity,kidneys,kidney_left": (170.0, 25.0, 15.0),
    "body,abdominal_cavity,kidneys,kidney_right": (170.0, 25.0, 15.0),
    "body,abdominal_cavity,urinary_bladder": (8.0, 6.0, 5.0),
    "body,abdominal_cavity,other": (0.0, 15.0, 45.0),
}


def smooth_field(shape: tuple[int, ...], sigma_voxels, rng: np.random.Generator) -> np.ndarray:
    """Gaussian-filtered white noise rescaled to unit standard deviation (float32)."""
    field = ndimage.gaussian_filter(rng.standard_normal(shape, dtype=np.float32), sigma_voxels)
    std = float(field.std())
    return field / std if std > 0 else field


def render_hu(raster: Rasteriser, spacing_zyx: np.ndarray, slice_thickness: float,
              rng: np.random.Generator) -> np.ndarray:
    """HU image (float32, SimpleITK ``[k, j, i]`` order) for the rasterised labels."""
    labels = raster.labels
    means = np.zeros(len(PHANTOM_LEAF_PATHS), dtype=np.float32)
    amplitudes = np.zeros(len(PHANTOM_LEAF_PATHS), dtype=np.float32)
    for path, (mean, spread, amplitude) in TISSUE_HU.items():
        value = value_of_path(path)
        means[value] = mean + rng.uniform(-spread, spread)
        amplitudes[value] = amplitude
    # paired organs share one draw: a side must not be recognisable by its brightness
    for left, right in (("ribs_left", "ribs_right"), ("hip_left", "hip_right"),
                        ("lung_left", "lung_right"), ("kidney_left", "kidney_right"),
                        ("autochthon_left", "autochthon_right")):
        means[_leaf(right)] = means[_leaf(left)]
    texture = smooth_field(labels.shape, np.maximum(4.0 / spacing_zyx, 0.5), rng)
    hu = means[labels] + amplitudes[labels] * texture
    # bowel gas pockets and the stomach's air cap
    bowel = labels == value_of_path("body,abdominal_cavity,other")
    gas = bowel & (smooth_field(labels.shape, np.maximum(6.0 / spacing_zyx, 0.5), rng) > 1.6)
    hu[gas] = -700.0 + 80.0 * texture[gas]
    hu[raster.stomach_gas] = -900.0
    hu[raster.kidney_medulla] -= 80.0
    hu[raster.disc] = 90.0 + 10.0 * texture[raster.disc]
    # partial volume: in-plane point spread ~0.6 voxel, along the slice axis the slice profile
    fwhm_to_sigma = 1.0 / 2.3548
    sigma = np.array([slice_thickness * fwhm_to_sigma / spacing_zyx[0], 0.6, 0.6])
    hu = ndimage.gaussian_filter(hu, sigma, mode="nearest")
    noise = rng.uniform(6.0, 22.0)
    hu += rng.standard_normal(hu.shape, dtype=np.float32) * np.float32(noise)
    return hu


def _leaf(name: str) -> int:
    from .tree import value_of

    return value_of(name)
