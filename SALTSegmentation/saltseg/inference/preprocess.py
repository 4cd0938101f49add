"""CT → network input, exactly as SALT's validation transforms prepare it.

1. Reorient to ``LPI`` (MONAI ``Orientationd(axcodes="LPI")``: network axis 0 points to the
   patient's Left, 1 Posterior, 2 Inferior). SimpleITK's ``DICOMOrient(image, "LPI")`` gives the
   same axes; its numpy array is ``[z, y, x]`` so the network array is its ``transpose(2, 1, 0)``.
   Like MONAI, this only permutes and flips axes: an oblique scan keeps its residual rotation, and
   mapping back through physical space puts every label where it belongs.
2. Resample linearly to the model's voxel spacing on a grid that keeps the first voxel's centre,
   with MONAI ``Spacingd``'s size rule ``round((n - 1) · s / s' + 1)``.
3. Intensities: clip [-1024, 1024] HU → [0, 1] when the config has no intensity properties,
   otherwise clip [-1024, 3071] and z-score with the dataset mean/std.
"""
from __future__ import annotations

import math

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np
import SimpleITK as sitk

from ..model.model_io import IntensityProperties

NETWORK_ORIENTATION = "LPI"
AIR_HU = -1024.0


@dataclass(frozen=True)
class Grid:
    """Physical geometry of an image without its voxels."""

    size: tuple[int, ...]
    spacing: tuple[float, ...]
    origin: tuple[float, ...]
    direction: tuple[float, ...]

    @classmethod
    def of(cls, image: sitk.Image) -> "Grid":
        return cls(image.GetSize(), image.GetSpacing(), image.GetOrigin(), image.GetDirection())

    def apply_to(self, image: sitk.Image) -> sitk.Image:
        if image.GetSize() != self.size:
            raise ValueError(f"image size {image.GetSize()} does not match grid size {self.size}")
        image.SetSpacing(self.spacing)
        image.SetOrigin(self.origin)
        image.SetDirection(self.direction)
        return image


@dataclass
class PreparedVolume:
    """The network input and the physical grid it lives on (for mapping labels back)."""

    array: np.ndarray  # float32 [X, Y, Z] in network axes (L, P, I)
    grid: Grid

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.array.shape)


def reorient(image: sitk.Image, orientation: str = NETWORK_ORIENTATION) -> sitk.Image:
    return sitk.DICOMOrient(image, orientation)


def to_network_array(image: sitk.Image) -> np.ndarray:
    """``[X, Y, Z]`` view of an image (SimpleITK arrays are ``[Z, Y, X]``)."""
    return sitk.GetArrayViewFromImage(image).transpose(2, 1, 0)


def from_network_array(array: np.ndarray, grid: Grid) -> sitk.Image:
    """Inverse of :func:`to_network_array`, placed on ``grid``."""
    return grid.apply_to(sitk.GetImageFromArray(np.ascontiguousarray(array.transpose(2, 1, 0))))


def resampled_size(size: Sequence[int], spacing: Sequence[float], target: Sequence[float]) -> list[int]:
    """MONAI ``Spacingd``'s rule, including numpy's round-half-to-even on the whole expression."""
    return [max(1, int(np.round((n - 1) * s / t + 1.0))) for n, s, t in zip(size, spacing, target)]


def resample_to_spacing(
    image: sitk.Image, spacing: Sequence[float], interpolator: int = sitk.sitkLinear,
    default_value: float = AIR_HU, pixel_type: int = sitk.sitkFloat32,
) -> sitk.Image:
    target = [float(s) for s in spacing]
    if np.allclose(image.GetSpacing(), target, rtol=1e-6) and image.GetPixelID() == pixel_type:
        return image
    size = resampled_size(image.GetSize(), image.GetSpacing(), target)
    return sitk.Resample(
        replicate_far_faces(image, size, target),
        size,
        sitk.Transform(),
        interpolator,
        image.GetOrigin(),
        target,
        image.GetDirection(),
        default_value,
        pixel_type,
    )


def replicate_far_faces(image: sitk.Image, size: Sequence[int], spacing: Sequence[float]) -> sitk.Image:
    """``image`` extended by copies of its last face on each axis where the resampled grid's last
    voxel lies beyond the last input voxel. MONAI's ``Spacingd`` (SALT's) samples there with
    ``grid_sample``'s border padding, i.e. the edge value; SimpleITK would write air instead."""
    upper = []
    for n_in, s_in, n_out, s_out in zip(image.GetSize(), image.GetSpacing(), size, spacing):
        beyond = (n_out - 1) * s_out - (n_in - 1) * s_in
        upper.append(max(0, math.ceil(beyond / s_in - 1e-6)))
    if not any(upper):
        return image
    return sitk.ZeroFluxNeumannPad(image, [0] * image.GetDimension(), upper)


def normalise_intensity(array: np.ndarray, intensity: Optional[IntensityProperties]) -> np.ndarray:
    """SALT's intensity transform, in place on a float32 array."""
    if intensity is None:
        np.clip(array, AIR_HU, 1024.0, out=array)
        array -= AIR_HU
        array /= 2048.0
    else:
        np.clip(array, AIR_HU, 3071.0, out=array)
        array -= intensity.mean
        array /= intensity.std
    return array


def prepare_volume(
    image: sitk.Image, spacing: Sequence[float], intensity: Optional[IntensityProperties],
    already_oriented: bool = False,
) -> PreparedVolume:
    """Reorient, resample (linear, to float32) and normalise a CT for the network."""
    oriented = image if already_oriented else reorient(image)
    resampled = resample_to_spacing(oriented, spacing)
    array = np.array(to_network_array(resampled), dtype=np.float32, order="C")
    normalise_intensity(array, intensity)
    return PreparedVolume(array, Grid.of(resampled))
