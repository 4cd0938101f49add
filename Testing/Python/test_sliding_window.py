"""Slab-wise sliding-window inference equals whole-volume inference, and can be cancelled."""
from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from saltseg.errors import Cancelled, InputImageError, ModelError
from saltseg.progress import CancelToken, ProgressReporter
from saltseg.inference.sliding_window import WindowSettings, sliding_window_labels
from saltseg.inference.window_placement import gaussian_importance, scan_positions
from tree_networks import random_tree_network


def whole_volume_reference(volume, predictor, tree, settings):
    """Textbook sliding window: all N channels of the whole volume accumulated, then argmax."""
    roi = settings.roi_size
    x = torch.from_numpy(volume)
    starts = [scan_positions(s, r, settings.overlap) for s, r in zip(x.shape, roi)]
    weight = gaussian_importance(roi, settings.sigma_scale, torch.device("cpu"))
    total = torch.zeros((len(tree),) + tuple(x.shape))
    weights = torch.zeros(tuple(x.shape))
    for z0 in starts[2]:
        for x0, y0 in itertools.product(starts[0], starts[1]):
            region = (slice(x0, x0 + roi[0]), slice(y0, y0 + roi[1]), slice(z0, z0 + roi[2]))
            with torch.no_grad():
                p = predictor(x[region][None, None])[0]
            total[(slice(None),) + region] += p * weight
            weights[region] += weight
    probabilities = total / weights
    return probabilities.index_select(0, torch.as_tensor(tree.leaves)).argmax(0).numpy()


def test_scan_positions_cover_the_axis_with_the_last_window_flush():
    assert scan_positions(100, 48, 0.5) == [0, 24, 48, 52]
    assert scan_positions(48, 48, 0.5) == [0]
    assert scan_positions(30, 48, 0.5) == [0]
    assert scan_positions(10, 4, 0.0) == [0, 4, 6]


@pytest.mark.parametrize("shape, roi, overlap, batch", [((30, 26, 41), (16, 16, 8), 0.5, 2),
                                                         ((20, 20, 23), (12, 10, 8), 0.25, 3)])
def test_flush_slab_inference_equals_whole_volume_inference(small_tree, shape, roi, overlap, batch):
    rng = np.random.default_rng(1)
    volume = rng.random(shape, dtype=np.float32)
    predictor = random_tree_network(small_tree)
    settings = WindowSettings(roi_size=roi, overlap=overlap, batch_size=batch, placement="flush")
    labels = sliding_window_labels(volume, predictor, torch.as_tensor(small_tree.leaves), len(small_tree),
                                   settings, torch.device("cpu"))
    expected = whole_volume_reference(volume, predictor, small_tree, settings)
    assert labels.shape == shape and labels.dtype == np.uint8
    assert len(np.unique(labels)) > 2  # a non-trivial labelling
    assert np.mean(labels != expected) < 1e-4  # identical up to float summation order


def test_volume_smaller_than_a_window_is_padded(small_tree):
    volume = np.random.default_rng(2).random((10, 7, 5), dtype=np.float32)
    predictor = random_tree_network(small_tree)
    settings = WindowSettings(roi_size=(16, 16, 8))
    labels = sliding_window_labels(volume, predictor, torch.as_tensor(small_tree.leaves), len(small_tree),
                                   settings, torch.device("cpu"))
    assert labels.shape == (10, 7, 5)
    padded = np.zeros((16, 16, 8), np.float32)
    padded[3:13, 4:11, 1:6] = volume  # centred, like the engine
    reference = whole_volume_reference(padded, predictor, small_tree, settings)[3:13, 4:11, 1:6]
    assert np.array_equal(labels, reference)


def test_constant_end_slices_are_background_and_all_constant_is_an_error(small_tree):
    volume = np.random.default_rng(3).random((16, 16, 20), dtype=np.float32)
    volume[:, :, :3] = 0.25
    volume[:, :, -2:] = 0.0
    labels = sliding_window_labels(volume, random_tree_network(small_tree), torch.as_tensor(small_tree.leaves),
                                   len(small_tree), WindowSettings(roi_size=(16, 16, 8)), torch.device("cpu"),
                                   background_value=0)
    assert (labels[:, :, :3] == 0).all() and (labels[:, :, -2:] == 0).all()
    # Only exactly constant slices count (SALT's float32 std() == 0): all air after clipping.
    air = np.zeros((16, 16, 20), dtype=np.float32)
    with pytest.raises(InputImageError, match="every axial slice"):
        sliding_window_labels(air, random_tree_network(small_tree), torch.as_tensor(small_tree.leaves),
                              len(small_tree), WindowSettings(roi_size=(16, 16, 8)), torch.device("cpu"))


def test_cancel_is_honoured_within_one_window_batch(small_tree):
    volume = np.random.default_rng(4).random((40, 40, 40), dtype=np.float32)
    network = random_tree_network(small_tree)
    calls = []

    def predictor(x):
        calls.append(x.shape[0])
        return network(x)

    token = CancelToken()
    reports = []

    def progress(stage, fraction):
        reports.append(fraction)
        if len(reports) == 4:
            token.cancel()

    with pytest.raises(Cancelled):
        sliding_window_labels(volume, predictor, torch.as_tensor(small_tree.leaves), len(small_tree),
                              WindowSettings(roi_size=(16, 16, 8), batch_size=1), torch.device("cpu"),
                              ProgressReporter(progress, token))
    assert len(calls) == 3  # the 0 % report, then three windows; nothing after the cancel
    assert reports == sorted(reports)


def test_model_output_is_checked(small_tree):
    volume = np.random.default_rng(5).random((16, 16, 8), dtype=np.float32)
    leaves = torch.as_tensor(small_tree.leaves)
    settings = WindowSettings(roi_size=(16, 16, 8))
    wrong_channels = torch.nn.Conv3d(1, 3, 1)
    with pytest.raises(ModelError, match="expected 8 channels"):
        sliding_window_labels(volume, wrong_channels, leaves, len(small_tree), settings, torch.device("cpu"))
    logits_only = torch.nn.Conv3d(1, len(small_tree), 1)
    with pytest.raises(ModelError, match="does not output tree-softmax probabilities"):
        sliding_window_labels(volume, logits_only, leaves, len(small_tree), settings, torch.device("cpu"))


def test_settings_are_validated():
    with pytest.raises(ValueError, match="overlap"):
        WindowSettings(roi_size=(8, 8, 8), overlap=1.0)
    with pytest.raises(ValueError, match="batch_size"):
        WindowSettings(roi_size=(8, 8, 8), batch_size=0)


def test_device_out_of_memory_becomes_an_actionable_error(small_tree):
    def exhausted(x):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    volume = np.random.default_rng(6).random((16, 16, 8), dtype=np.float32)
    from saltseg.errors import OutOfMemoryError

    with pytest.raises(OutOfMemoryError, match="out of memory .* retry on the CPU, or with a window batch size of 1"):
        sliding_window_labels(volume, exhausted, torch.as_tensor(small_tree.leaves), len(small_tree),
                              WindowSettings(roi_size=(16, 16, 8)), torch.device("cpu"))


class _TiedLeaves:
    """Probabilities with two leaves exactly tied everywhere; the slab holds leaves in reverse."""

    def __init__(self, tree, tied):
        self.tree, self.tied = tree, tied
        self.slab_nodes = list(reversed(tree.leaves))

    def __call__(self, windows):
        p = torch.zeros(windows.shape[0], len(self.tree), *windows.shape[2:])
        p[:, list(self.tied)] = 0.5
        return p


def test_ties_break_in_label_order_whatever_the_slab_order(small_tree):
    """A predictor may accumulate leaves in its own order; labels still break ties like SALT's argmax
    over the leaves in label order (the first one wins)."""
    first, second = small_tree.leaves[1], small_tree.leaves[3]
    volume = np.random.default_rng(6).random((20, 18, 12), dtype=np.float32)
    predictor = _TiedLeaves(small_tree, (second, first))
    labels = sliding_window_labels(volume, predictor, torch.as_tensor(small_tree.leaves), len(small_tree),
                                   WindowSettings(roi_size=(16, 16, 8)), torch.device("cpu"))
    assert np.all(labels == 1)  # label value of `first`


def test_slab_order_must_be_the_trees_leaves(small_tree):
    predictor = _TiedLeaves(small_tree, (small_tree.leaves[0], small_tree.leaves[1]))
    predictor.slab_nodes = predictor.slab_nodes[1:]
    with pytest.raises(ModelError, match="slab channels are not the tree's leaves"):
        sliding_window_labels(np.random.default_rng(7).random((8, 8, 8), dtype=np.float32), predictor,
                              torch.as_tensor(small_tree.leaves), len(small_tree),
                              WindowSettings(roi_size=(8, 8, 8)), torch.device("cpu"))


def test_skip_air_skips_exactly_the_all_air_windows_and_changes_labels_only_there(small_tree):
    """``skip_air`` (``--fast``): the windows whose every voxel is below the threshold never reach
    the network and the voxels only they cover are background; nothing outside their footprint
    changes."""
    roi, threshold = (12, 12, 8), 0.3
    rng = np.random.default_rng(8)
    volume = rng.uniform(0.2, 1.0, size=(40, 12, 24)).astype(np.float32)
    # "air" below the threshold, not constant (so the network alone labels it variously): the
    # windows from x = 24 and slice 8 on hold nothing else
    volume[20:, :, 8:] = rng.uniform(0.0, 0.25, size=(20, 12, 16))
    network = random_tree_network(small_tree, seed=8)
    seen: list[torch.Tensor] = []

    def recording(windows: torch.Tensor) -> torch.Tensor:
        seen.extend(windows.clone())
        return network(windows)

    leaves = torch.as_tensor(small_tree.leaves)
    axes = [sorted(set(range(0, size - r + 1, r // 2)) | {size - r}) for size, r in zip(volume.shape, roi)]
    starts = list(itertools.product(*axes))  # overlap 0.5: steps of half a window, the last flush
    region = {s: tuple(slice(a, a + r) for a, r in zip(s, roi)) for s in starts}
    air = {s for s in starts if (volume[region[s]] < threshold).all()}
    assert 0 < len(air) < len(starts)
    stats: dict = {}
    skipped = sliding_window_labels(volume, recording, leaves, len(small_tree),
                                    WindowSettings(roi_size=roi, skip_below=threshold, batch_size=2),
                                    torch.device("cpu"), stats=stats)
    run = {s for s in starts for window in seen if torch.equal(window[0], torch.from_numpy(volume[region[s]]))}
    assert run == set(starts) - air and len(seen) == len(run)  # each window run once, no air window
    assert (stats["windows_skipped"], stats["windows_run"]) == (len(air), len(starts) - len(air))

    full = sliding_window_labels(volume, network, leaves, len(small_tree), WindowSettings(roi_size=roi, batch_size=2),
                                 torch.device("cpu"))
    footprint = np.zeros(volume.shape, dtype=bool)
    for s in air:
        footprint[region[s]] = True
    assert np.array_equal(skipped[~footprint], full[~footprint])
    only_air = footprint.copy()
    for s in set(starts) - air:
        only_air[region[s]] = False
    assert only_air.any() and (skipped[only_air] == 0).all()
    assert (full[only_air] != 0).any()  # the network alone would have labelled some of it


class _FeaturesNetwork:
    """A features path: a fixed 3×3×3 convolution to C channels, reduced with a pointwise head.
    ``own_buffers``: as a runtime with two output buffers taking turns gives them, each buffer
    filled with NaN before it is written again (a chunk still reading it would poison the slab)."""

    def __init__(self, tree, own_buffers: bool) -> None:
        from saltseg.inference.leaf_layout import LeafLayout
        from saltseg.inference.leaf_reducers import TreeSoftmaxReducer
        from saltseg.model.logits import PointwiseHead

        generator = torch.Generator().manual_seed(11)
        self.convolution = torch.randn(6, 1, 3, 3, 3, generator=generator)
        head = PointwiseHead(torch.randn(len(tree), 6, generator=generator),
                             torch.randn(len(tree), generator=generator))
        layout = LeafLayout(tree)
        self.slab_nodes = layout.slab_nodes
        self.reducer = TreeSoftmaxReducer(layout, torch.device("cpu"), head)
        self.own_buffers = own_buffers
        self.buffers: list[torch.Tensor] = []
        self.turn = 0

    def __call__(self, windows):
        from saltseg.inference.leaf_accumulation import NetworkOutput

        features = torch.nn.functional.conv3d(windows, self.convolution, padding=1)
        if not self.own_buffers:
            return NetworkOutput(features, self.reducer)
        if len(self.buffers) < 2:
            self.buffers.append(torch.empty(features.shape))
        buffer = self.buffers[self.turn]
        self.turn = (self.turn + 1) % 2
        buffer.fill_(float("nan"))
        buffer.copy_(features)
        return NetworkOutput(buffer, self.reducer)


def test_runtime_buffers_taking_turns_are_reduced_in_place_to_the_same_labels(small_tree):
    volume = np.random.default_rng(8).random((30, 26, 37), dtype=np.float32)
    settings = WindowSettings(roi_size=(16, 16, 8), batch_size=1)
    leaves = torch.as_tensor(small_tree.leaves)
    fresh = sliding_window_labels(volume, _FeaturesNetwork(small_tree, own_buffers=False), leaves, len(small_tree),
                                  settings, torch.device("cpu"))
    in_place = sliding_window_labels(volume, _FeaturesNetwork(small_tree, own_buffers=True), leaves, len(small_tree),
                                     settings, torch.device("cpu"))
    assert len(np.unique(fresh)) > 2  # a non-trivial labelling
    assert np.array_equal(in_place, fresh)
