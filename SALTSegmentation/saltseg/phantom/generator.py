"""One phantom from one seed: anatomy → labels on a random grid → HU image."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np
import SimpleITK as sitk

from .anatomy import Anatomy, Rasteriser
from .geometry import Geometry, random_geometry
from .intensity import render_hu

logger = logging.getLogger(__name__)

#: Default grid spacing ranges (mm): in-plane, slice.
DEFAULT_SPACING = ((2.5, 4.0), (2.5, 5.0))


@dataclass
class Phantom:
    """A generated CT (int16 HU) and its labelmap (uint8, SALT label values) on the same grid."""

    image: sitk.Image
    labels: sitk.Image
    seed: int
    info: dict[str, Any]


def generate_phantom(seed: int, spacing_range=DEFAULT_SPACING, orientation: Optional[str] = None,
                     field_of_view: Optional[str] = None) -> Phantom:
    """Generate phantom number ``seed`` — the same seed always gives the same voxels.

    ``spacing_range`` is ``((min, max) in-plane, (min, max) slice)`` in mm, or a single number for
    a fixed isotropic spacing; ``orientation`` (e.g. ``"RAS"``) and ``field_of_view`` (a key of
    :data:`~saltseg.phantom.geometry.FIELDS_OF_VIEW`) override the random choice.
    """
    if isinstance(spacing_range, (int, float)):
        spacing_range = ((float(spacing_range),) * 2, (float(spacing_range),) * 2)
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x5A17]))
    anatomy = Anatomy.random(rng)
    geometry = random_geometry(rng, anatomy, spacing_range, orientation, field_of_view)
    q = geometry.body_points()
    raster = Rasteriser(anatomy, q)
    labels = raster.run()
    del q
    spacing_zyx = geometry.spacing[::-1].astype(np.float32)
    hu = render_hu(raster, spacing_zyx, geometry.slice_thickness, rng)
    image = sitk.GetImageFromArray(np.clip(np.round(hu), -1024, 3071).astype(np.int16))
    label_image = sitk.GetImageFromArray(labels)
    for item in (image, label_image):
        item.SetSpacing(tuple(float(v) for v in geometry.spacing))
        item.SetOrigin(tuple(float(v) for v in geometry.origin))
        item.SetDirection(tuple(float(v) for v in geometry.direction.flatten()))
    info = _describe(seed, geometry)
    logger.info("phantom %d: %s, %s, size %s", seed, info["orientation"], info["field_of_view"], info["size"])
    return Phantom(image, label_image, int(seed), info)


def _describe(seed: int, geometry: Geometry) -> dict[str, Any]:
    return {
        "seed": int(seed),
        "orientation": geometry.orientation,
        "oblique_degrees": round(geometry.oblique_degrees, 2),
        "field_of_view": geometry.field_of_view,
        "size": list(geometry.size),
        "spacing": [round(float(v), 3) for v in geometry.spacing],
        "slice_thickness": round(geometry.slice_thickness, 3),
    }
