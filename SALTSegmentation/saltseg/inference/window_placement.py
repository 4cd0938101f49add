"""Where the sliding windows go: SALT's placement (the default) or flush placement.

SALT's ``sliding_window_inference_with_reduction`` (``salt/utils/inference.py``), which the
engine reproduces by default so that its labels are SALT's:

* constant slices at both ends of the long (last, inferior) axis are skipped and labelled with
  the first leaf;
* axes shorter than the window are padded with air, centred (``diff // 2`` before);
* a long axis longer than the window but not a multiple of it is padded with air
  *symmetrically* to the next multiple of the window depth (``pad // 2`` before) — SALT's
  workaround for blending artefacts of its slab buffer;
* window starts: regular steps of ``int(roi · (1 - overlap))``, the last one flush with the end
  (MONAI's rule; in-plane the same rule, applied to the padded slab);
* when the slab buffer moves on by ``step`` slices it clears ``step + 1`` of them, so the slice
  just before the cleared part loses the earlier windows' contributions (see
  :func:`cleared_slices`).

``flush`` placement pads the long axis only when it is shorter than a window and clears exactly
``step`` slices: no window sees invented air.
"""
from __future__ import annotations

import math
from typing import Optional, Sequence

import numpy as np
import torch

from ..errors import InputImageError
from ..model.run_defaults import WINDOW_PLACEMENTS


def scan_positions(size: int, roi: int, overlap: float) -> list[int]:
    """Window start positions along one axis (MONAI's rule: regular steps, last flush with the end)."""
    if size <= roi:
        return [0]
    step = max(int(roi * (1.0 - overlap)), 1)
    count = math.ceil((size - roi) / step) + 1
    return [min(i * step, size - roi) for i in range(count)]


def axis_padding(size: int, roi: int, long_axis: bool, placement: str) -> tuple[int, int]:
    """Air ``(before, after)`` one axis gets: centred up to the window size, and, for SALT's long
    axis, symmetrically up to the next multiple of the window depth."""
    if placement not in WINDOW_PLACEMENTS:
        raise ValueError(f"window placement must be one of {', '.join(WINDOW_PLACEMENTS)}, got {placement!r}")
    if size < roi:
        missing = roi - size
        return missing // 2, missing - missing // 2
    if long_axis and placement == "salt" and size % roi:
        missing = roi * (size // roi + 1) - size
        return missing // 2, missing - missing // 2
    return 0, 0


def cleared_slices(roi_depth: int, step: int, placement: str) -> int:
    """Slices of the slab buffer cleared when it moves on by ``step`` (SALT clears one more)."""
    if placement == "salt":
        return min(step + 1, roi_depth)
    return step


def pad_volume(volume: torch.Tensor, roi: Sequence[int], value: float,
               placement: str) -> tuple[torch.Tensor, list[int]]:
    """Pad ``[X, Y, Z]`` with air as the placement demands; returns it and the pads before."""
    pads = [axis_padding(size, window, axis == 2, placement)
            for axis, (size, window) in enumerate(zip(volume.shape, roi))]
    before = [p[0] for p in pads]
    if not any(sum(p) for p in pads):
        return volume, before
    flat_pads = [v for pair in reversed(pads) for v in pair]
    return torch.nn.functional.pad(volume, flat_pads, mode="constant", value=value), before


def gaussian_importance(roi: Sequence[int], sigma_scale: float, device: torch.device) -> torch.Tensor:
    """Separable Gaussian centred on the window (at ``(n - 1) / 2``), in float32 and not rescaled
    to a peak of 1, as MONAI 1.1 (SALT's pinned version) computes it; floored like SALT (at the
    smallest positive weight, at least 1e-3). The floor is absolute, so rescaling would change
    which weights it lifts (even window sizes have no voxel at the centre, so their peak is < 1)."""
    weight: Optional[torch.Tensor] = None
    for size in roi:
        sigma = max(size * sigma_scale, 1e-6)
        coords = torch.arange(size, dtype=torch.float32) - (size - 1) / 2.0
        axis = torch.exp(coords ** 2 / (-2.0 * sigma ** 2))
        weight = axis if weight is None else weight.unsqueeze(-1) * axis
    assert weight is not None  # roi has a size per axis
    weight = torch.clamp(weight, min=max(float(weight[weight > 0].min()), 1e-3))
    return weight.to(device=device, dtype=torch.float32)


def trim_constant_slices(volume: np.ndarray) -> tuple[int, int]:
    """``(start, stop)`` along the last axis without the constant slices at both ends (empty
    table-only slices in many scans), by SALT's own test: a slice is skipped while its float32
    ``std()`` is exactly 0, computed on the ``[1, 1, X, Y, Z]`` tensor as SALT does. Air is exactly
    constant only at 0.0 (the -1024..1024 scaling): the float32 mean of a z-scored model's air
    (-1024 - mean) / std is not exact, so SALT keeps (and segments) those slices."""
    tensor = torch.from_numpy(np.ascontiguousarray(volume, dtype=np.float32))[None, None]
    depth = tensor.shape[-1]
    start = 0
    while start < depth and tensor[:, :, :, :, start].std() == 0:
        start += 1
    if start == depth:
        raise InputImageError(
            "every axial slice of the image is constant after intensity clipping: there is no "
            "anatomy to segment"
        )
    stop = depth
    while tensor[:, :, :, :, stop - 1].std() == 0:
        stop -= 1
    return start, stop
