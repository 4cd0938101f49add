"""A PNG preview of a segmentation: axial, coronal and sagittal slices of the CT with the labels
overlaid in the tree colours, side by side, in radiological display convention.

Written with SimpleITK's PNG writer (no plotting library needed). Each view shows the slice that
contains the most different labels, so the preview lands on anatomy rather than on air. The image
is reoriented to LPS first, which gives the usual display directly: axial and coronal views show
the patient's right on the left of the image, anterior is up in the axial view and on the left in
the sagittal view, superior is up in the coronal and sagittal views.
"""
from __future__ import annotations

from pathlib import Path
from typing import Union

import numpy as np
import SimpleITK as sitk

from ..atomic import atomic_write
from ..tree.colors import node_colors
from ..tree.labeltree import LabelTree

#: soft-tissue window (level 40 HU, width 400 HU)
WINDOW_HU = (-160.0, 240.0)
OVERLAY_OPACITY = 0.45
GAP_PIXELS = 4
#: default height/width in pixels of the largest physical extent of the image
PREVIEW_PIXELS = 400


def _isotropic_lps(image: sitk.Image, interpolator: int, pixel_mm: float, default: float) -> sitk.Image:
    oriented = sitk.DICOMOrient(image, "LPS")
    size = [max(1, int(round(n * s / pixel_mm))) for n, s in zip(oriented.GetSize(), oriented.GetSpacing())]
    return sitk.Resample(oriented, size, sitk.Transform(), interpolator, oriented.GetOrigin(),
                         (pixel_mm,) * 3, oriented.GetDirection(), default, oriented.GetPixelID())


def _busiest(labels: np.ndarray, axis: int) -> int:
    """Index along ``axis`` of the slice with the most distinct non-zero labels (ties: nearest the
    middle, so a symmetric volume shows its centre)."""
    moved = np.moveaxis(labels, axis, 0)
    counts = np.array([np.unique(s[s > 0]).size for s in moved])
    middle = (len(counts) - 1) / 2
    order = np.lexsort((np.abs(np.arange(len(counts)) - middle), -counts))
    return int(order[0])


def _panels(hu: np.ndarray, labels: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """(CT slice, label slice) per view from ``[z, y, x]`` LPS arrays; rows are flipped so that
    superior is up (LPS z grows towards the head)."""
    z = _busiest(labels, 0)
    y = _busiest(labels, 1)
    x = _busiest(labels, 2)
    return [
        (hu[z], labels[z]),                    # axial: rows anterior→posterior, columns right→left
        (hu[::-1, y, :], labels[::-1, y, :]),  # coronal: rows superior→inferior
        (hu[::-1, :, x], labels[::-1, :, x]),  # sagittal: columns anterior→posterior
    ]


def render_preview(image: sitk.Image, labelmap: sitk.Image, tree: LabelTree,
                   pixel_mm: float = 0.0) -> np.ndarray:
    """RGB ``uint8`` array ``[rows, columns, 3]`` with the three views side by side.

    ``labelmap`` holds SALT label values on any grid (resampled onto the image's, nearest
    neighbour); ``pixel_mm`` defaults to the size that maps the image's largest extent onto
    :data:`PREVIEW_PIXELS` pixels."""
    extent_mm = max(n * s for n, s in zip(image.GetSize(), image.GetSpacing()))
    pixel_mm = pixel_mm or extent_mm / PREVIEW_PIXELS
    labels_on_image = sitk.Resample(labelmap, image, sitk.Transform(), sitk.sitkNearestNeighbor, 0)
    ct = sitk.GetArrayFromImage(_isotropic_lps(sitk.Cast(image, sitk.sitkFloat32), sitk.sitkLinear,
                                               pixel_mm, -1024.0))
    labels = sitk.GetArrayFromImage(_isotropic_lps(labels_on_image, sitk.sitkNearestNeighbor, pixel_mm, 0))

    colors = node_colors(tree)
    palette = np.zeros((max(len(tree.leaves), int(labels.max()) + 1), 3), dtype=np.float32)
    for value in range(len(tree.leaves)):
        palette[value] = colors[tree.leaf_for_value(value)]
    low, high = WINDOW_HU
    views = []
    for hu, lab in _panels(ct, labels):
        gray = np.clip((hu - low) / (high - low), 0.0, 1.0)[..., None].repeat(3, axis=2)
        colored = palette[lab]
        alpha = np.where(lab > 0, OVERLAY_OPACITY, 0.0)[..., None]
        views.append((gray * (1 - alpha) + colored * alpha) * 255.0)
    rows = max(v.shape[0] for v in views)
    canvas = np.zeros((rows, sum(v.shape[1] for v in views) + GAP_PIXELS * (len(views) - 1), 3), np.float32)
    column = 0
    for view in views:
        top = (rows - view.shape[0]) // 2
        canvas[top:top + view.shape[0], column:column + view.shape[1]] = view
        column += view.shape[1] + GAP_PIXELS
    return np.round(canvas).astype(np.uint8)


def write_preview(image: sitk.Image, labelmap: sitk.Image, tree: LabelTree, path: Union[str, Path],
                  pixel_mm: float = 0.0) -> Path:
    """Render :func:`render_preview` into a PNG file (written atomically)."""
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise ValueError(f"preview must be a .png file, got {path.name}")
    rgb = sitk.GetImageFromArray(render_preview(image, labelmap, tree, pixel_mm), isVector=True)
    return atomic_write(path, lambda tmp: sitk.WriteImage(rgb, str(tmp)), suffix=".png")
