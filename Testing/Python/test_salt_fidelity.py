"""The default window placement gives SALT's labels.

The reference below re-derives SALT's ``sliding_window_inference_with_reduction`` from its
observable rules, written independently of the engine: pad the long axis with air symmetrically to
a multiple of the window depth, windows at regular steps with the last flush, all ``N`` channels
and the weights accumulated over the whole volume, and the slab buffer's extra cleared slice
(when moving on by ``step`` it discards the earlier windows' contributions to the last slice of the
window it leaves). Random networks are the hardest case: their labels change with any shift of a
window.
"""
from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from monai.data.utils import compute_importance_map

from saltseg.inference.sliding_window import WindowSettings, sliding_window_labels
from tree_networks import random_tree_network



def salt_starts(size, roi, overlap):
    step = int(roi * (1 - overlap))
    starts = list(range(0, size - roi + 1, step))
    if starts[-1] != size - roi:
        starts.append(size - roi)
    return starts


def salt_importance(roi):
    """MONAI's Gaussian importance map with SALT's clamp (``salt/utils/inference.py``)."""
    weight = compute_importance_map(roi, mode="gaussian", sigma_scale=0.125, device="cpu")
    return torch.clamp(weight, min=max(weight[weight != 0].min().item(), 1e-3))


def salt_reference(volume, network, tree, roi, overlap, cval=0.0):
    """SALT's labels, from its rules, with the whole N-channel volume accumulated. Constant slices
    at both ends of the long axis are left out first and labelled 0."""
    full = torch.from_numpy(volume)
    varying = [z for z in range(full.shape[2]) if full[:, :, z].std() != 0]  # SALT's float32 test
    first, stop = varying[0], varying[-1] + 1
    x = full[:, :, first:stop]
    pads = []
    for axis, (size, window) in enumerate(zip(x.shape, roi)):
        if size < window:
            total = window - size
        elif axis == 2 and size % window:
            total = window * (size // window + 1) - size
        else:
            total = 0
        pads.append((total // 2, total - total // 2))
    x = torch.nn.functional.pad(x, [v for pair in reversed(pads) for v in pair], value=cval)
    starts = [salt_starts(s, r, overlap) if s > r else [0] for s, r in zip(x.shape, roi)]
    z_starts = starts[2]
    # Slice s_k + roi_z - 1 is cleared when the buffer leaves window k (not after the last one).
    cleared_after = {z_starts[k] + roi[2] - 1: k for k in range(len(z_starts) - 1)}
    weight = salt_importance(roi).double()
    total = torch.zeros((len(tree),) + tuple(x.shape), dtype=torch.float64)
    weights = torch.zeros(tuple(x.shape), dtype=torch.float64)
    for j, z0 in enumerate(z_starts):
        keep = torch.tensor([not (z0 + i in cleared_after and cleared_after[z0 + i] >= j)
                             for i in range(roi[2])], dtype=torch.float64)
        for x0, y0 in itertools.product(starts[0], starts[1]):
            region = (slice(x0, x0 + roi[0]), slice(y0, y0 + roi[1]), slice(z0, z0 + roi[2]))
            with torch.no_grad():
                p = network(x[region][None, None])[0].double()
            total[(slice(None),) + region] += p * weight * keep
            weights[region] += weight * keep
    labels = (total / weights).index_select(0, torch.as_tensor(tree.leaves)).argmax(0).numpy()
    labels = labels[pads[0][0]:pads[0][0] + x.shape[0] - sum(pads[0]),
                    pads[1][0]:pads[1][0] + x.shape[1] - sum(pads[1]),
                    pads[2][0]:pads[2][0] + stop - first]
    out = np.zeros(volume.shape, dtype=labels.dtype)
    out[:, :, first:stop] = labels
    return out


@pytest.mark.parametrize("depth", [5, 8, 11, 16, 29, 53], ids=lambda d: f"z{d}")
def test_default_placement_reproduces_salts_labels(small_tree, depth):
    """Shorter than one window, exactly one, just over one, a multiple, and many windows long."""
    roi = (12, 12, 8)
    volume = np.random.default_rng(depth).random((20, 17, depth), dtype=np.float32)
    network = random_tree_network(small_tree, seed=depth)
    labels = sliding_window_labels(volume, network, torch.as_tensor(small_tree.leaves), len(small_tree),
                                   WindowSettings(roi_size=roi, batch_size=3), torch.device("cpu"))
    expected = salt_reference(volume, network, small_tree, roi, 0.5)
    assert len(np.unique(expected)) >= 2
    assert np.mean(labels == expected) > 0.9999  # identical up to float summation order


def test_flush_placement_differs_where_salt_pads(small_tree):
    """The option exists and matters: with 29 slices SALT pads 3 slices of air, flush does not."""
    roi = (12, 12, 8)
    volume = np.random.default_rng(7).random((20, 17, 29), dtype=np.float32)
    network = random_tree_network(small_tree, seed=7)
    leaves = torch.as_tensor(small_tree.leaves)
    flush = sliding_window_labels(volume, network, leaves, len(small_tree),
                                  WindowSettings(roi_size=roi, placement="flush"), torch.device("cpu"))
    expected = salt_reference(volume, network, small_tree, roi, 0.5)
    assert np.mean(flush == expected) < 0.999


@pytest.mark.parametrize("before, after, depth", [(3, 4, 29), (2, 6, 24), (5, 1, 11)],
                         ids=["padded-after-trim", "multiple-after-trim", "shorter-than-a-window"])
def test_constant_end_slices_are_left_out_then_padded_as_salt_pads(small_tree, before, after, depth):
    """SALT skips constant slices at both ends (labelled 0) and pads what is left to whole windows;
    29 - 7 = 22 slices get 2 of air, 24 - 8 = 16 none (24 itself would have needed none either),
    11 - 6 = 5 are centred in one window."""
    roi = (12, 12, 8)
    volume = np.random.default_rng(depth).random((20, 17, depth), dtype=np.float32)
    volume[:, :, :before] = 0.0
    volume[:, :, depth - after:] = 0.0
    network = random_tree_network(small_tree, seed=depth)
    labels = sliding_window_labels(volume, network, torch.as_tensor(small_tree.leaves), len(small_tree),
                                   WindowSettings(roi_size=roi, batch_size=3), torch.device("cpu"))
    expected = salt_reference(volume, network, small_tree, roi, 0.5)
    assert (expected[:, :, :before] == 0).all() and (expected[:, :, depth - after:] == 0).all()
    assert len(np.unique(expected[:, :, before:depth - after])) >= 2
    assert np.mean(labels == expected) > 0.9999


def test_z_scored_model_end_to_end_pads_with_air_in_its_units(tmp_path, small_tree):
    """A model with intensity properties, through ``segment_image``: SALT's clip to -1024..3071 and
    z-score (MONAI), air padding at (-1024 - mean) / std. The end slices of pure air are kept: SALT
    tests constancy with a float32 ``std() == 0``, which z-scored air (-3.55) never passes."""
    import SimpleITK as sitk
    from monai.transforms import NormalizeIntensity, ScaleIntensityRange

    from saltseg.inference.pipeline import SegmentOptions, segment_image
    from saltseg.model.export import export_model
    from saltseg.model.model_io import IntensityProperties, load_model

    roi, spacing, mean, std = (12, 12, 8), (4.0, 4.0, 4.0), 40.0, 300.0
    network = random_tree_network(small_tree, seed=11)
    export_model(network[:-1], small_tree, tmp_path, roi, spacing, intensity=IntensityProperties(mean=mean, std=std))
    hu = np.random.default_rng(11).uniform(-1200, 1500, size=(20, 17, 29)).astype(np.float32)  # [x, y, z]
    hu[:, :, :2] = hu[:, :, -3:] = -1024.0
    image = sitk.GetImageFromArray(hu.astype(np.int16).transpose(2, 1, 0))
    image.SetSpacing(spacing)
    image.SetDirection((1, 0, 0, 0, 1, 0, 0, 0, -1))  # stored L, P, I: the network's own axes
    result = segment_image(image, load_model(tmp_path, "cpu"),
                           SegmentOptions(largest_component=False, backend="torch", window_placement="salt"))
    ours = sitk.GetArrayFromImage(result.labelmap).transpose(2, 1, 0)

    clipped = ScaleIntensityRange(a_min=-1024, a_max=3071, b_min=-1024, b_max=3071, clip=True)(
        torch.from_numpy(hu.astype(np.int16).astype(np.float32)))
    normalised = np.asarray(NormalizeIntensity(subtrahend=mean, divisor=std)(clipped), dtype=np.float32)
    expected = salt_reference(normalised, network, small_tree, roi, 0.5, cval=(-1024.0 - mean) / std)
    assert len(np.unique(expected)) >= 2
    assert np.mean(ours == expected) > 0.9999
    assert (ours[:, :, :2] != 0).any()  # segmented, not skipped as in the -1024..1024 scaling
    # The same run padded with 0 (air only for a model without intensity properties) differs.
    assert np.mean(salt_reference(normalised, network, small_tree, roi, 0.5, cval=0.0) == expected) < 0.9999
