"""A small synthetic CT (air, fat, muscle, lungs, spine) for pipeline demonstrations.

Stand-in until the anatomical phantom generator exists: it has realistic Hounsfield values and an
asymmetric layout (spine posterior, a liver-like block on the patient's right) so that orientation
mistakes are visible, but it is not anatomy.
"""
from __future__ import annotations

import numpy as np
import SimpleITK as sitk


def synthetic_ct(size=(96, 96, 64), spacing=(4.0, 4.0, 5.0), seed: int = 0) -> sitk.Image:
    """An LPS-oriented int16 CT volume in HU."""
    rng = np.random.default_rng(seed)
    nx, ny, nz = size
    x, y, z = np.meshgrid(np.linspace(-1, 1, nx), np.linspace(-1, 1, ny), np.linspace(-1, 1, nz), indexing="ij")
    hu = np.full(size, -1000.0)
    body = (x / 0.85) ** 2 + (y / 0.6) ** 2 <= 1.0
    hu[body] = -100.0  # subcutaneous fat
    hu[(x / 0.75) ** 2 + (y / 0.5) ** 2 <= 1.0] = 40.0  # muscle and organs
    lungs = ((np.abs(x) - 0.35) / 0.25) ** 2 + (y / 0.35) ** 2 + ((z + 0.4) / 0.55) ** 2 <= 1.0
    hu[lungs] = -850.0
    # LPS: +x is the patient's left, +y posterior, +z superior; liver on the patient's right (-x).
    liver = ((x + 0.35) / 0.3) ** 2 + ((y + 0.05) / 0.3) ** 2 + ((z - 0.45) / 0.35) ** 2 <= 1.0
    hu[liver] = 60.0
    spine = (x / 0.09) ** 2 + ((y - 0.38) / 0.09) ** 2 <= 1.0
    hu[spine] = 700.0
    hu += rng.normal(0.0, 12.0, size)
    image = sitk.GetImageFromArray(np.round(hu).astype(np.int16).transpose(2, 1, 0))
    image.SetSpacing(spacing)
    image.SetOrigin((-nx * spacing[0] / 2, -ny * spacing[1] / 2, 0.0))
    return image
