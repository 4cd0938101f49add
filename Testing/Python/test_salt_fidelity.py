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

from saltseg.inference.sliding_window import WindowSettings, gaussian_importance, sliding_window_labels
from tree_networks import random_tree_network



def salt_starts(size, roi, overlap):
    step = int(roi * (1 - overlap))
    starts = list(range(0, size - roi + 1, step))
    if starts[-1] != size - roi:
        starts.append(size - roi)
    return starts


def salt_reference(volume, network, tree, roi, overlap, cval=0.0):
    """SALT's labels, from its rules, with the whole N-channel volume accumulated."""
    x = torch.from_numpy(volume)
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
    weight = gaussian_importance(roi, 0.125, torch.device("cpu"))
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
    return labels[pads[0][0]:pads[0][0] + volume.shape[0], pads[1][0]:pads[1][0] + volume.shape[1],
                  pads[2][0]:pads[2][0] + volume.shape[2]]


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
