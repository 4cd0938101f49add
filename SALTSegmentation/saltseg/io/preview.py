"""A PNG preview of a segmentation: axial, coronal and sagittal slices of the CT with the labels
overlaid in the tree colours, side by side, in radiological display convention.

Written with SimpleITK's PNG writer (no plotting library needed). Each view shows the slice that
contains the most different labels, so the preview lands on anatomy rather than on air. Only the
three planes shown are resampled (never a copy of the volume, which may be hundreds of MB), on the
image's grid as reoriented to LPS, which gives the usual display directly: axial and coronal views show
the patient's right on the left of the image, anterior is up in the axial view and on the left in
the sagittal view, superior is up in the coronal and sagittal views.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Union

import numpy as np
import SimpleITK as sitk

from ..atomic import atomic_write
from ..tree.colors import node_colors
from ..tree.labeltree import LabelTree
from .writers import write_with_sitk

#: soft-tissue window (level 40 HU, width 400 HU)
WINDOW_HU = (-160.0, 240.0)
OVERLAY_OPACITY = 0.45
GAP_PIXELS = 4
#: default height/width in pixels of the largest physical extent of the image
PREVIEW_PIXELS = 400


#: Where each orientation letter points in LPS: (LPS axis, +1 or -1).
_LPS_AXIS = {"L": (0, 1), "R": (0, -1), "P": (1, 1), "A": (1, -1), "S": (2, 1), "I": (2, -1)}


@dataclass(frozen=True)
class _LpsGrid:
    """An image's grid as ``sitk.DICOMOrient(image, "LPS")`` would make it, worked out from the
    header alone: reorienting the volume itself would copy it (a whole-body CT is hundreds of MB)."""

    axes: tuple[int, int, int]  # the image axis along LPS x, y, z
    signs: tuple[int, int, int]  # +1 where that image axis already points to L, P or S
    size: tuple[int, int, int]
    spacing: tuple[float, float, float]
    origin: np.ndarray  # physical point of the reoriented first voxel
    direction: np.ndarray  # columns: the reoriented axes' directions


def _lps_grid(image: sitk.Image) -> _LpsGrid:
    code = sitk.DICOMOrientImageFilter.GetOrientationFromDirectionCosines(image.GetDirection())
    lps = {_LPS_AXIS[letter][0]: (axis, _LPS_AXIS[letter][1]) for axis, letter in enumerate(code)}
    axes = (lps[0][0], lps[1][0], lps[2][0])
    signs = (lps[0][1], lps[1][1], lps[2][1])
    size, spacing = image.GetSize(), image.GetSpacing()
    first = [0] * 3
    for axis, sign in zip(axes, signs):
        first[axis] = size[axis] - 1 if sign < 0 else 0
    stored = np.asarray(image.GetDirection(), dtype=float).reshape(3, 3)
    direction = np.stack([stored[:, axis] * sign for axis, sign in zip(axes, signs)], axis=1)
    return _LpsGrid(axes, signs, tuple(size[a] for a in axes), tuple(spacing[a] for a in axes),
                    np.asarray(image.TransformIndexToPhysicalPoint(first), dtype=float), direction)


def _busiest(labels: np.ndarray, axis: int, reverse: bool) -> int:
    """Index along ``axis`` (of a ``[z, y, x]`` array) of the slice with the most distinct non-zero
    labels (ties: nearest the middle, so a symmetric volume shows its centre; counted in LPS order,
    ``reverse`` when the axis runs the other way). Works slice by slice on a view: no volume copy."""
    counts = np.zeros(labels.shape[axis], dtype=np.int64)
    for index in range(labels.shape[axis]):
        plane = np.take(labels, index, axis=axis)
        foreground = plane[plane > 0]
        if not foreground.size:
            continue
        small_integers = foreground.dtype.kind in "ui" and int(foreground.max()) < 1 << 16
        counts[index] = np.count_nonzero(np.bincount(foreground)) if small_integers else np.unique(foreground).size
    if reverse:
        counts = counts[::-1]
    middle = (len(counts) - 1) / 2
    order = np.lexsort((np.abs(np.arange(len(counts)) - middle), -counts))
    chosen = int(order[0])
    return len(counts) - 1 - chosen if reverse else chosen


def _slice_offsets(labelmap: sitk.Image, grid: _LpsGrid) -> list[float]:
    """Per LPS axis, the distance (mm) from the image's reoriented origin, along that axis, of the
    labelmap's busiest slice across it."""
    labels = sitk.GetArrayViewFromImage(labelmap)  # [z, y, x]: image axis a is array axis 2 - a
    label_grid = _lps_grid(labelmap)
    offsets = []
    for j, (axis, sign) in enumerate(zip(label_grid.axes, label_grid.signs)):
        index = [0] * 3
        index[axis] = _busiest(labels, 2 - axis, reverse=sign < 0)
        point = np.asarray(labelmap.TransformIndexToPhysicalPoint(index), dtype=float)
        offsets.append(float(np.dot(point - grid.origin, grid.direction[:, j])))
    return offsets


def _sample_plane(image: sitk.Image, grid: _LpsGrid, size: list[int], pixel_mm: float, across: int,
                  offset: float, interpolator: int, default: float, pixel_type: int) -> np.ndarray:
    """The plane across LPS axis ``across`` at ``offset`` mm, sampled at ``pixel_mm`` on the
    reoriented grid, as a 2D array (rows: the plane's slower LPS axis)."""
    plane_size = list(size)
    plane_size[across] = 1
    origin = grid.origin + grid.direction[:, across] * offset
    plane = sitk.Resample(image, plane_size, sitk.Transform(), interpolator, origin.tolist(), (pixel_mm,) * 3,
                          grid.direction.flatten().tolist(), default, pixel_type)
    return np.squeeze(sitk.GetArrayFromImage(plane), axis=2 - across)


def _panels(image: sitk.Image, labelmap: sitk.Image, pixel_mm: float) -> list[tuple[np.ndarray, np.ndarray]]:
    """(CT slice in HU, label slice) per view. Only these planes are resampled (never the volume);
    rows are flipped so that superior is up (LPS z grows towards the head)."""
    grid = _lps_grid(image)
    size = [max(1, int(round(n * s / pixel_mm))) for n, s in zip(grid.size, grid.spacing)]
    panels = []
    for across, offset in zip((2, 1, 0), _slice_offsets(labelmap, grid)[::-1]):
        hu = _sample_plane(image, grid, size, pixel_mm, across, offset, sitk.sitkLinear, -1024.0,
                           sitk.sitkFloat32)
        labels = _sample_plane(labelmap, grid, size, pixel_mm, across, offset, sitk.sitkNearestNeighbor, 0.0,
                               labelmap.GetPixelID())
        panels.append((hu, labels) if across == 2 else (hu[::-1], labels[::-1]))
    return panels  # axial (rows anterior→posterior, columns right→left), coronal, sagittal


def render_preview(image: sitk.Image, labelmap: sitk.Image, tree: LabelTree,
                   pixel_mm: float = 0.0) -> np.ndarray:
    """RGB ``uint8`` array ``[rows, columns, 3]`` with the three views side by side.

    ``labelmap`` holds SALT label values on any grid (sampled at the views' pixels, nearest
    neighbour); ``pixel_mm`` defaults to the size that maps the image's largest extent onto
    :data:`PREVIEW_PIXELS` pixels. Memory: the three views only, whatever the volume's size."""
    extent_mm = max(n * s for n, s in zip(image.GetSize(), image.GetSpacing()))
    pixel_mm = pixel_mm or extent_mm / PREVIEW_PIXELS
    panels = _panels(image, labelmap, pixel_mm)

    colors = node_colors(tree)
    top_value = max(int(labels.max()) for _, labels in panels)
    palette = np.zeros((max(len(tree.leaves), top_value + 1), 3), dtype=np.float32)
    for value in range(len(tree.leaves)):
        palette[value] = colors[tree.leaf_for_value(value)]
    low, high = WINDOW_HU
    views = []
    for hu, lab in panels:
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
    return atomic_write(path, lambda tmp: write_with_sitk(rgb, tmp), suffix=".png")
