"""Pairing two images: where each lies in space, whether they overlap, one resampled onto the other.

A segmentation resampled onto a CT (or a prediction onto its truth) that lies elsewhere in space
comes out empty: every structure 0 voxels, every Dice 0, and nothing says why. So before resampling,
the two physical bounding boxes (mm, LPS, voxel edges included) are compared: no overlap at all is
an error naming both boxes, a partial overlap a warning with the fraction that overlaps.
"""
from __future__ import annotations

import itertools
import logging
import math
from dataclasses import dataclass
from typing import Optional, cast

import numpy as np
import SimpleITK as sitk

from ..errors import InputImageError

logger = logging.getLogger(__name__)

#: Below this shortfall of the overlapping fraction the boxes count as nested (floating-point noise
#: of a cropped copy's origin).
_NESTED = 1e-6


@dataclass(frozen=True)
class PhysicalBox:
    """An axis-aligned box in LPS millimetres."""

    lower: tuple[float, float, float]
    upper: tuple[float, float, float]

    @classmethod
    def of(cls, image: sitk.Image) -> "PhysicalBox":
        """The box around all of ``image``'s voxels, their outer edges included (an oblique image's
        box is the one around its rotated corners)."""
        size = image.GetSize()
        corners = np.array([image.TransformContinuousIndexToPhysicalPoint(
            [(size[axis] if far else 0) - 0.5 for axis, far in enumerate(pick)])
            for pick in itertools.product((False, True), repeat=3)])
        return cls(tuple(corners.min(axis=0).tolist()), tuple(corners.max(axis=0).tolist()))

    @property
    def volume(self) -> float:
        return math.prod(max(high - low, 0.0) for low, high in zip(self.lower, self.upper))

    def intersection(self, other: "PhysicalBox") -> Optional["PhysicalBox"]:
        """The common box, or None when the boxes share no volume (also when they only touch)."""
        lower = cast("tuple[float, float, float]", tuple(max(a, b) for a, b in zip(self.lower, other.lower)))
        upper = cast("tuple[float, float, float]", tuple(min(a, b) for a, b in zip(self.upper, other.upper)))
        if any(high <= low for low, high in zip(lower, upper)):
            return None
        return PhysicalBox(lower, upper)

    def __str__(self) -> str:
        return ", ".join(f"{axis} {low:.1f}..{high:.1f}" for axis, low, high in zip("xyz", self.lower, self.upper))


def overlap_fraction(moving: sitk.Image, reference: sitk.Image, moving_name: str = "the segmentation",
                     reference_name: str = "the CT", context: str = "") -> float:
    """The fraction of ``moving``'s box inside ``reference``'s box. Raises :class:`InputImageError`
    naming both boxes when they do not overlap at all; logs a warning when only part of ``moving``
    lies inside (that part is lost in resampling). ``context`` (e.g. a case name) prefixes both."""
    prefix = f"{context}: " if context else ""
    moving_box, reference_box = PhysicalBox.of(moving), PhysicalBox.of(reference)
    common = moving_box.intersection(reference_box)
    if common is None:
        raise InputImageError(f"{prefix}{moving_name} and {reference_name} do not overlap in space: "
                              f"{moving_name} spans {moving_box}, {reference_name} spans {reference_box} "
                              "(bounding boxes in mm, LPS)")
    fraction = min(common.volume / moving_box.volume, 1.0)
    if fraction < 1.0 - _NESTED:
        # Floored, so that a real shortfall never prints as 100 %.
        shown = math.floor(fraction * 1000.0) / 10.0
        logger.warning("%sonly %.1f %% of %s lies inside %s (%s spans %s, %s spans %s; mm, LPS); "
                       "the rest is left out", prefix, shown, moving_name, reference_name, moving_name,
                       moving_box, reference_name, reference_box)
    return fraction


def same_grid(a: sitk.Image, b: sitk.Image, tolerance: float = 1e-4) -> bool:
    return (a.GetSize() == b.GetSize()
            and np.allclose(a.GetSpacing(), b.GetSpacing(), atol=tolerance)
            and np.allclose(a.GetOrigin(), b.GetOrigin(), atol=tolerance * 10)
            and np.allclose(a.GetDirection(), b.GetDirection(), atol=tolerance))


def on_grid_of(labelmap: sitk.Image, reference: sitk.Image, moving_name: str = "the segmentation",
               reference_name: str = "the CT", context: str = "") -> sitk.Image:
    """``labelmap`` on ``reference``'s grid (nearest neighbour; outside it: label 0), refused when
    the two do not overlap in space (see :func:`overlap_fraction`)."""
    if reference.GetDimension() != 3 or reference.GetNumberOfComponentsPerPixel() != 1:
        raise InputImageError(f"{reference_name} must be a 3D single-component image")
    if same_grid(labelmap, reference):
        return labelmap
    overlap_fraction(labelmap, reference, moving_name, reference_name, context)
    logger.info("resampling %s onto the grid of %s (nearest neighbour)", moving_name, reference_name)
    return sitk.Resample(labelmap, reference, sitk.Transform(), sitk.sitkNearestNeighbor, 0,
                         labelmap.GetPixelID())
