"""Sliding-window inference that reduces to leaf labels slab by slab.

Windows are Gaussian-weighted and overlap like MONAI's ``sliding_window_inference`` (SALT's
default overlap 0.5). The volume is swept along its last (inferior) axis in slabs one window deep;
after each slab, the slices no later window can touch are reduced to labels (argmax over the
leaves) and the accumulator moves on. Peak memory is therefore one slab —
``leaves × X × Y × roi_z`` floats — however long the scan, never the N-channel probability map of
the whole volume.

Deliberate differences from SALT's ``sliding_window_inference_with_reduction`` (measured in
``benchmarks/compare_with_salt.py``):

* SALT pads the long axis with air to a multiple of the window depth (a workaround for blending
  artefacts caused by its buffer shift); we place the last window flush with the end instead, as
  MONAI does, so no window sees invented air.
* SALT's shift clears ``step + 1`` slices of the accumulator, dropping the previous window's
  contribution to one slice per slab; we clear exactly ``step`` slices.
* We accumulate only the leaf channels (argmax is over leaves) and skip dividing by the summed
  weights: the weights are positive and equal across channels, so the argmax is unchanged.
* SALT crashes when every slice is constant; we stop earlier with a clear error
  (:func:`saltseg.io.image_io.check_ct_image` and :func:`trim_constant_slices`).

Measured on the shared 3 mm CT with the same ``model.pt`` (26 leaves present), the first two
points make 0.07 % of the voxels differ from SALT's output (988 of 1,380,064; mostly at window
seams); preprocessing and the largest-component step agree exactly.
"""
from __future__ import annotations

import contextlib
import itertools
import math
from dataclasses import dataclass
from typing import Callable, Optional, Sequence

import numpy as np
import torch

from .devices import is_out_of_memory
from ..errors import InputImageError, ModelError, OutOfMemoryError
from ..progress import ProgressReporter

Predictor = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class WindowSettings:
    roi_size: tuple[int, int, int]
    overlap: float = 0.5
    batch_size: int = 2
    sigma_scale: float = 0.125
    pad_value: float = 0.0  # normalised air
    mixed_precision: bool = True

    def __post_init__(self) -> None:
        if not 0.0 <= self.overlap < 1.0:
            raise ValueError(f"overlap must be in [0, 1), got {self.overlap}")
        if self.batch_size < 1:
            raise ValueError(f"window batch size must be at least 1, got {self.batch_size}")


def scan_positions(size: int, roi: int, overlap: float) -> list[int]:
    """Window start positions along one axis (MONAI's rule: regular steps, last flush with the end)."""
    if size <= roi:
        return [0]
    step = max(int(roi * (1.0 - overlap)), 1)
    count = math.ceil((size - roi) / step) + 1
    return [min(i * step, size - roi) for i in range(count)]


def gaussian_importance(roi: Sequence[int], sigma_scale: float, device: torch.device) -> torch.Tensor:
    """Separable Gaussian centred on the window (at ``(n - 1) / 2``, as MONAI 1.1 — SALT's pinned
    version — computes it), floored like SALT (≥ 1e-3)."""
    axes = []
    for size in roi:
        sigma = max(size * sigma_scale, 1e-6)
        coords = torch.arange(size, dtype=torch.float64) - (size - 1) / 2.0
        axes.append(torch.exp(-0.5 * (coords / sigma) ** 2))
    weight = axes[0][:, None, None] * axes[1][None, :, None] * axes[2][None, None, :]
    weight = weight / weight.max()
    weight = torch.clamp(weight, min=max(float(weight[weight > 0].min()), 1e-3))
    return weight.to(device=device, dtype=torch.float32)


def trim_constant_slices(volume: np.ndarray) -> tuple[int, int]:
    """``(start, stop)`` along the last axis without the constant slices at both ends (empty
    table-only slices in many scans); SALT skips them too."""
    flat = volume.reshape(-1, volume.shape[-1])
    varying = np.flatnonzero(flat.min(axis=0) != flat.max(axis=0))
    if varying.size == 0:
        raise InputImageError(
            "every axial slice of the image is constant after intensity clipping: there is no "
            "anatomy to segment"
        )
    return int(varying[0]), int(varying[-1]) + 1


def _pad_to_roi(volume: torch.Tensor, roi: Sequence[int], value: float) -> tuple[torch.Tensor, list[int]]:
    """Centre-pad every axis shorter than the window; returns the padded volume and the low pads."""
    pads, low = [], []
    for size, window in zip(volume.shape, roi):
        missing = max(window - size, 0)
        low.append(missing // 2)
        pads.append((missing // 2, missing - missing // 2))
    if not any(sum(p) for p in pads):
        return volume, low
    flat_pads = [v for pair in reversed(pads) for v in pair]
    return torch.nn.functional.pad(volume, flat_pads, mode="constant", value=value), low


class _Batcher:
    """Runs the predictor on batches of windows and checks the output format once."""

    def __init__(self, predictor: Predictor, device: torch.device, leaves: torch.Tensor,
                 num_nodes: int, settings: WindowSettings) -> None:
        self.predictor = predictor
        self.device = device
        self.leaves = leaves.to(device)
        self.num_nodes = num_nodes
        self.settings = settings
        self.checked = False

    def _autocast(self):
        if self.settings.mixed_precision and self.device.type == "cuda":
            return torch.autocast(device_type="cuda", dtype=torch.float16)
        return contextlib.nullcontext()

    def __call__(self, windows: torch.Tensor) -> torch.Tensor:
        """``[B, 1, *roi]`` → node probabilities ``[B, N, *roi]`` as the model returns them."""
        with torch.inference_mode(), self._autocast():
            output = self.predictor(windows.to(self.device, non_blocking=True))
        if not self.checked:
            self._check(output, windows)
        return output

    def _check(self, output: torch.Tensor, windows: torch.Tensor) -> None:
        if output.dim() != 5 or output.shape[1] != self.num_nodes or output.shape[2:] != windows.shape[2:]:
            raise ModelError(
                f"model.pt returned shape {tuple(output.shape)} for input {tuple(windows.shape)}; "
                f"expected {self.num_nodes} channels (one per label-tree node) at the window size"
            )
        leaf_sum = output.index_select(1, self.leaves).float().sum(dim=1)
        if not torch.allclose(leaf_sum, torch.ones_like(leaf_sum), atol=2e-2):
            raise ModelError(
                "model.pt does not output tree-softmax probabilities (leaf probabilities do not sum "
                "to 1); an official SALT export ends with TreeSoftmax — export logits with "
                "saltseg.model.export.export_model"
            )
        self.checked = True


def _sliding_window_labels(
    volume: np.ndarray,
    predictor: Predictor,
    leaves: torch.Tensor,
    num_nodes: int,
    settings: WindowSettings,
    device: torch.device,
    report: Optional[ProgressReporter] = None,
    background_value: int = 0,
) -> np.ndarray:
    report = report or ProgressReporter()
    z_start, z_stop = trim_constant_slices(volume)
    trimmed = torch.from_numpy(np.ascontiguousarray(volume[:, :, z_start:z_stop]))
    padded, low = _pad_to_roi(trimmed, settings.roi_size, settings.pad_value)
    rx, ry, rz = settings.roi_size
    size_x, size_y, size_z = padded.shape
    z_positions = scan_positions(size_z, rz, settings.overlap)
    xy_positions = list(itertools.product(scan_positions(size_x, rx, settings.overlap),
                                          scan_positions(size_y, ry, settings.overlap)))
    total = len(z_positions) * len(xy_positions)
    batcher = _Batcher(predictor, device, leaves, num_nodes, settings)
    importance = gaussian_importance(settings.roi_size, settings.sigma_scale, device)
    importance_zfirst = importance.permute(2, 0, 1).unsqueeze(1)  # [rz, 1, rx, ry]
    label_dtype = torch.uint8 if len(leaves) <= 256 else torch.int16
    labels = torch.empty((size_z, size_x, size_y), dtype=label_dtype)
    # Z-first so that finishing and shifting slices are contiguous copies.
    slab = torch.zeros((rz, len(leaves), size_x, size_y), dtype=torch.float32, device=device)
    done = 0
    report("inference", 0.0)
    for k, z0 in enumerate(z_positions):
        for start in range(0, len(xy_positions), settings.batch_size):
            report.check_cancelled()
            batch = xy_positions[start:start + settings.batch_size]
            windows = torch.stack([padded[x0:x0 + rx, y0:y0 + ry, z0:z0 + rz] for x0, y0 in batch])
            probabilities = batcher(windows.unsqueeze(1))  # [B, N, rx, ry, rz]
            for (x0, y0), window in zip(batch, probabilities):
                # One window's leaves at a time, accumulated in place: no batch-sized copies.
                leaf_probabilities = window.index_select(0, batcher.leaves).float()
                slab[:, :, x0:x0 + rx, y0:y0 + ry].addcmul_(leaf_probabilities.permute(3, 0, 1, 2),
                                                            importance_zfirst)
            # Free this batch's output before the next forward pass allocates its own.
            del probabilities, leaf_probabilities, windows
            done += len(batch)
            report("inference", done / total)
        z_next = z_positions[k + 1] if k + 1 < len(z_positions) else z0 + rz
        finished = z_next - z0
        labels[z0:z_next] = slab[:finished].argmax(dim=1).to("cpu", label_dtype)
        for i in range(rz - finished):  # shift the unfinished slices to the front
            slab[i].copy_(slab[i + finished])
        slab[rz - finished:].zero_()
    del slab
    labels_xyz = labels.permute(1, 2, 0).numpy()
    cropped = labels_xyz[low[0]:low[0] + trimmed.shape[0], low[1]:low[1] + trimmed.shape[1],
                         low[2]:low[2] + trimmed.shape[2]]
    result = np.full(volume.shape, background_value, dtype=cropped.dtype)
    result[:, :, z_start:z_stop] = cropped
    return result


def sliding_window_labels(
    volume: np.ndarray,
    predictor: Predictor,
    leaves: torch.Tensor,
    num_nodes: int,
    settings: WindowSettings,
    device: torch.device,
    report: Optional[ProgressReporter] = None,
    background_value: int = 0,
) -> np.ndarray:
    """Label values (index into ``leaves``) for every voxel of ``volume`` ``[X, Y, Z]``.

    Out-of-memory errors of the device (windows or the slab accumulator) become an
    :class:`OutOfMemoryError` that says what to change.
    """
    try:
        return _sliding_window_labels(volume, predictor, leaves, num_nodes, settings, device, report,
                                      background_value)
    except RuntimeError as error:
        if not is_out_of_memory(error):
            raise
        if device.type == "cuda":
            torch.cuda.empty_cache()
        raise OutOfMemoryError(
            f"{device.type.upper()} out of memory with windows of {'×'.join(map(str, settings.roi_size))} "
            f"voxels in batches of {settings.batch_size} — retry on the CPU, or with a window batch "
            "size of 1"
        ) from error
