"""The slab, stored in the windows' order, holds what a z-first buffer shifted slice by slice holds,
and its finished slices become the first maximum's label in label order, as SALT's argmax."""
import numpy as np
import pytest
import torch

from saltseg.inference.slab import Slab


def test_adds_and_moves_match_a_buffer_shifted_slice_by_slice():
    rng = np.random.default_rng(3)
    depth, leaves, size_x, size_y = 8, 3, 5, 4
    slab = Slab(size_x, leaves, size_y, depth, torch.device("cpu"))
    shifted = torch.zeros((depth, leaves, size_x, size_y))  # [z, L, X, Y]
    steps = set()
    for _ in range(60):
        start = int(rng.integers(0, depth))
        stop = int(rng.integers(start + 1, depth + 1))
        xs, ys = slice(1, 4), slice(0, 3)
        values = torch.from_numpy(rng.random((leaves, 3, 3, stop - start), dtype=np.float32))
        slab.region(xs, ys, start, stop).add_(values)
        shifted[start:stop, :, xs, ys] += values.permute(3, 0, 1, 2)
        if rng.random() < 0.4:
            step = int(rng.integers(1, depth + 1))  # below and above half the depth
            cleared = min(step + int(rng.integers(0, 2)), depth)  # SALT clears one slice more
            for x in range(0, size_x, 2):  # in blocks of rows, as the sweep moves it
                slab.move_on(slice(x, x + 2), step, cleared)
            for i in range(depth - step):
                shifted[i] = shifted[i + step]
            shifted[depth - cleared:] = 0
            steps.add(step < depth - step)
        assert torch.equal(slab.values.permute(3, 1, 0, 2), shifted)
    assert steps == {True, False}  # both ways of moving were taken


def test_a_window_with_nothing_of_the_scan_in_it_adds_nothing():
    from saltseg.inference.leaf_accumulation import SlabAccumulator
    from saltseg.inference.leaf_reducers import ProbabilityReducer

    slab = Slab(6, 2, 6, 4, torch.device("cpu"))
    accumulator = SlabAccumulator(slab, torch.ones((4, 4, 4)), 64)
    window = torch.full((3, 4, 4, 4), 0.5)  # node probabilities; leaves 1 and 2
    reducer = ProbabilityReducer([1, 2], 3, torch.device("cpu"))
    accumulator.add(window, 1, 1, reducer, (slice(0, 4), slice(0, 4), slice(0, 0)))
    accumulator.wait()
    assert not slab.values.any()
    accumulator.add(window, 1, 1, reducer)
    accumulator.wait()
    assert float(slab.values.sum()) == 2 * 4 * 4 * 4 * 0.5


@pytest.mark.parametrize("reordered", [True, False])
def test_labels_are_the_first_maximum_in_label_order_in_every_block(monkeypatch, reordered):
    from saltseg.inference import slab as slab_module

    monkeypatch.setattr(slab_module, "LABEL_BLOCK_VOXELS", 16)  # blocks of 3 rows of 5 slices: 70 rows end mid-block
    rng = np.random.default_rng(5)
    stored = torch.from_numpy(rng.integers(0, 4, (3, 7, 70, 8)).astype(np.float32))  # [x, L, y, z]: ties everywhere
    scores = stored[..., 2:7]  # finished slices: a view of the slab, as the sweep passes it
    label_channels = torch.from_numpy(rng.permutation(7)) if reordered else None
    labels = torch.empty((3, 70, 5), dtype=torch.uint8)
    slab_module.leaf_argmax(scores, label_channels, labels)
    in_label_order = scores.numpy()[:, label_channels.numpy()] if reordered else scores.numpy()
    assert np.array_equal(labels.numpy(), np.argmax(in_label_order, axis=1))  # numpy: the first maximum
