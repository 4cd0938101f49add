"""Probability maps as inputs (``saltseg stats --confidence``, ``saltseg evaluate --calibration``):
read as 0–1 floats and put on the grid of the image they describe.

The engine's maps read as 0–1 directly: uint8 NIfTI maps carry ``scl_slope = 1/255``, which ITK
applies, and float maps are 0–1. An integer map without that scale (written by another tool, or
the slope lost in a conversion) is read in the engine's uint8 scale, value / 255; anything else
outside [0, 1] is refused rather than guessed.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Union

import numpy as np
import SimpleITK as sitk

from ..errors import InputImageError
from .grids import overlap_fraction, same_grid

logger = logging.getLogger(__name__)

UINT8_SCALE = 255.0
_TOLERANCE = 1e-3


def as_probabilities(image: sitk.Image, name: str = "the probability map") -> sitk.Image:
    """``image`` as float32 0–1 (integer maps in the engine's uint8 scale)."""
    if image.GetDimension() != 3 or image.GetNumberOfComponentsPerPixel() != 1:
        raise InputImageError(f"{name} must be a 3D single-component image")
    values = sitk.GetArrayViewFromImage(image)
    if values.dtype.kind in "iu":
        if values.size and (int(values.min()) < 0 or int(values.max()) > UINT8_SCALE):
            raise InputImageError(f"{name} holds integers outside 0..255; expected probabilities (uint8 "
                                  "value/255, or floats 0-1)")
        scaled = sitk.ShiftScale(sitk.Cast(image, sitk.sitkFloat32), 0.0, 1.0 / UINT8_SCALE)
        return scaled
    if values.size and (not np.isfinite(values).all() or values.min() < -_TOLERANCE or values.max() > 1 + _TOLERANCE):
        raise InputImageError(f"{name} holds values outside 0..1; expected probabilities")
    return sitk.Cast(image, sitk.sitkFloat32)


def read_probability_map(path: Union[str, Path]) -> sitk.Image:
    from ..io.image_io import read_image

    path = Path(path)
    if not path.is_file():
        raise InputImageError(f"probability map {path} does not exist")
    return as_probabilities(read_image(path), path.name)


def probability_on_grid(probability: sitk.Image, reference: sitk.Image, moving_name: str = "the probability map",
                        reference_name: str = "the segmentation", context: str = "") -> sitk.Image:
    """``probability`` (0–1) on ``reference``'s grid: linear resampling, 0 outside it; refused when
    the two do not overlap in space."""
    probability = as_probabilities(probability, moving_name)
    if same_grid(probability, reference):
        return probability
    overlap_fraction(probability, reference, moving_name, reference_name, context)
    logger.info("resampling %s onto the grid of %s (linear)", moving_name, reference_name)
    return sitk.Resample(probability, reference, sitk.Transform(), sitk.sitkLinear, 0.0, sitk.sitkFloat32)
