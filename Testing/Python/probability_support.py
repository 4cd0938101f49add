"""A small official-format model whose probabilities vary (and whose windows disagree at their edges,
so blending matters), and SALT's blending of all N channels, rebuilt in the tests' own words.
(The engine side's support for test_probability_*.py; the Slicer side's is slicer_probability_support.py.)"""
from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
import torch

from conftest import SMALL_RULES
from saltseg.model.export import export_model
from saltseg.model.threshold_model import ThresholdNetwork
from saltseg.tree.labeltree import LabelTree
from test_salt_fidelity import salt_importance, salt_starts

#: 62×51×16 processing voxels for the 30-slice shared CT: 3 windows along each axis.
ROI = (32, 32, 8)
SPACING = (6.0, 6.0, 6.0)
LPS_FROM_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])


def soft_tissue_network(tree: LabelTree, seed: int = 0) -> torch.nn.Module:
    """Soft HU classes (fat, muscle, bone), then a 3×3×3 mixing convolution: probabilities between
    0.3 and 1, and zero padding at every window border, so overlapping windows disagree."""
    torch.manual_seed(seed)
    mix = torch.nn.Conv3d(len(tree), len(tree), 3, padding=1)
    with torch.no_grad():
        mix.weight.normal_(0.0, 0.1)
        mix.bias.zero_()
        mix.weight[:, :, 1, 1, 1] += torch.eye(len(tree))
    return torch.nn.Sequential(ThresholdNetwork(tree, SMALL_RULES, scale=4.0, sharpness=30.0), mix).eval()


@pytest.fixture(scope="session")
def probability_model(tmp_path_factory, small_tree) -> Path:
    """The soft-tissue network exported in SALT's format (model.pt ends in TreeSoftmax), 6 mm."""
    folder = tmp_path_factory.mktemp("probability_model")
    export_model(soft_tissue_network(small_tree), small_tree, folder, ROI, SPACING)
    return folder


def whole_model(folder: Path) -> torch.nn.Module:
    """``model.pt`` itself: windows → tree-softmax node probabilities."""
    return torch.jit.load(str(folder / "model.pt"), map_location="cpu").eval()


def salt_blended_channels(volume: np.ndarray, network, roi, overlap: float = 0.5, cval: float = 0.0) -> np.ndarray:
    """Every node's Gaussian-blended channel ``[N, X, Y, Z]`` by SALT's rules (long axis padded with
    air symmetrically to a multiple of the window depth, MONAI's window starts, SALT's clamped
    importance map, the slab buffer's extra cleared slice), divided by the summed weights. The
    volume must have no constant end slices (SALT would leave them out)."""
    x = torch.from_numpy(volume)
    pads = []
    for axis, (size, window) in enumerate(zip(x.shape, roi)):
        total = window - size if size < window else (window * (size // window + 1) - size
                                                      if axis == 2 and size % window else 0)
        pads.append((total // 2, total - total // 2))
    x = torch.nn.functional.pad(x, [v for pair in reversed(pads) for v in pair], value=cval)
    starts = [salt_starts(s, r, overlap) if s > r else [0] for s, r in zip(x.shape, roi)]
    cleared_after = {starts[2][k] + roi[2] - 1: k for k in range(len(starts[2]) - 1)}
    weight = salt_importance(roi).double()
    total = None
    weights = torch.zeros(tuple(x.shape), dtype=torch.float64)
    for j, z0 in enumerate(starts[2]):
        keep = torch.tensor([not (z0 + i in cleared_after and cleared_after[z0 + i] >= j) for i in range(roi[2])],
                            dtype=torch.float64)
        for x0, y0 in itertools.product(starts[0], starts[1]):
            region = (slice(x0, x0 + roi[0]), slice(y0, y0 + roi[1]), slice(z0, z0 + roi[2]))
            with torch.no_grad():
                p = network(x[region][None, None].float())[0].double()
            if total is None:
                total = torch.zeros((p.shape[0],) + tuple(x.shape), dtype=torch.float64)
            total[(slice(None),) + region] += p * weight * keep
            weights[region] += weight * keep
    blended = (total / weights).numpy()
    return blended[:, pads[0][0]:pads[0][0] + volume.shape[0], pads[1][0]:pads[1][0] + volume.shape[1],
                   pads[2][0]:pads[2][0] + volume.shape[2]]


def on_input_grid(channel_xyz: np.ndarray, ras_affine: np.ndarray, image: sitk.Image) -> np.ndarray:
    """A processing-grid channel (MONAI's voxel order and RAS affine) resampled linearly onto the
    input image's grid; SimpleITK array order ``[k, j, i]``."""
    lps = LPS_FROM_RAS @ np.asarray(ras_affine, dtype=float)
    spacing = np.linalg.norm(lps[:3, :3], axis=0)
    stored = sitk.GetImageFromArray(np.ascontiguousarray(channel_xyz.transpose(2, 1, 0)).astype(np.float32))
    stored.SetSpacing(spacing.tolist())
    stored.SetOrigin(lps[:3, 3].tolist())
    stored.SetDirection((lps[:3, :3] / spacing).flatten().tolist())
    return sitk.GetArrayFromImage(sitk.Resample(stored, image, sitk.Transform(), sitk.sitkLinear, 0.0,
                                                sitk.sitkFloat32))


def body_mask(image: sitk.Image) -> np.ndarray:
    """Voxels of the body: above -500 HU (SimpleITK array order)."""
    return sitk.GetArrayFromImage(image) > -500
