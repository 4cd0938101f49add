"""Probability maps are SALT's blended node channels, on the input grid.

On the shared 3 mm CT, with a model in SALT's format: the engine's map of a node equals the node's
channel of ``model.pt``'s tree-softmax output, Gaussian-blended by SALT's rules over all N
channels (default placement), and equals MONAI's own ``sliding_window_inference`` (gaussian,
sigma_scale 0.125, SALT's overlap) with flush placement, which places windows as MONAI does; both
references start from MONAI's preprocessing as SALT composes it and are resampled linearly onto
the input grid. Internal nodes are the sums of their leaves.
"""
from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
import torch

from monai.inferers import sliding_window_inference

from probability_support import probability_model  # noqa: F401  (fixture)
from probability_support import ROI, SPACING, body_mask, on_input_grid, salt_blended_channels, whole_model
from test_monai_reference import salt_preprocessing
from saltseg.inference.pipeline import SegmentOptions, segment_image
from saltseg.model.model_io import load_model

NODES = ("body", "body,soft_tissue", "body,soft_tissue,muscle", "body,soft_tissue,organ_left",
         "body,soft_tissue,organ_right", "body,fat", "body,bone", "background")
#: The issue's bar: mean absolute difference inside the body.
TOLERANCE = 0.01


@pytest.fixture(scope="module")
def prepared(example_ct_small):
    """MONAI's preprocessing of the CT, as SALT composes it (array [X, Y, Z], RAS affine)."""
    reference = salt_preprocessing(example_ct_small, SPACING)
    return np.ascontiguousarray(np.asarray(reference[0], dtype=np.float32)), np.asarray(reference.affine)


def engine_maps(image, folder, placement, **options):
    result = segment_image(image, load_model(folder, "cpu"),
                           SegmentOptions(backend="torch", precision="fp32", window_placement=placement, **options),
                           probabilities=NODES)
    return {node: sitk.GetArrayFromImage(result.probability_map(node)) for node in NODES}


@pytest.fixture(scope="module")
def salt_maps(example_ct_small, probability_model):
    return engine_maps(example_ct_small, probability_model, "salt")


def mean_difference_in_body(ours: np.ndarray, reference: np.ndarray, image) -> float:
    inside = body_mask(image)
    return float(np.abs(ours[inside] - reference[inside]).mean())


@pytest.fixture(scope="module")
def salt_reference(example_ct_small, probability_model, prepared, small_tree):
    """Every requested node's channel blended by SALT's rules, on the input grid."""
    volume, affine = prepared
    blended = salt_blended_channels(volume, whole_model(probability_model), ROI)
    return {node: on_input_grid(blended[small_tree.index(node)], affine, example_ct_small) for node in NODES}


@pytest.fixture(scope="module")
def monai_reference(example_ct_small, probability_model, prepared, small_tree):
    """MONAI's sliding_window_inference of the same model.pt, on the input grid."""
    volume, affine = prepared
    with torch.no_grad():
        blended = sliding_window_inference(torch.from_numpy(volume)[None, None], ROI, 1, whole_model(probability_model),
                                           overlap=0.5, mode="gaussian", sigma_scale=0.125)[0].numpy()
    return {node: on_input_grid(blended[small_tree.index(node)], affine, example_ct_small) for node in NODES}


@pytest.mark.parametrize("node", NODES)
def test_map_is_salts_blended_node_channel(example_ct_small, salt_maps, salt_reference, node):
    assert mean_difference_in_body(salt_maps[node], salt_reference[node], example_ct_small) <= TOLERANCE


@pytest.fixture(scope="module")
def flush_maps(example_ct_small, probability_model):
    return engine_maps(example_ct_small, probability_model, "flush")


@pytest.mark.parametrize("node", NODES)
def test_flush_map_is_monais_sliding_window_inference(example_ct_small, flush_maps, monai_reference, node):
    assert mean_difference_in_body(flush_maps[node], monai_reference[node], example_ct_small) <= TOLERANCE


def test_blending_matters_on_this_model(example_ct_small, salt_maps, salt_reference, monai_reference):
    """The checks above have teeth: the windows disagree, so SALT's and MONAI's placements give
    maps that differ by far more than the engine differs from SALT's."""
    inside = body_mask(example_ct_small)
    placements = np.abs(salt_reference["body,bone"] - monai_reference["body,bone"])[inside]
    ours = np.abs(salt_maps["body,bone"] - salt_reference["body,bone"])[inside]
    assert placements.max() > 10 * ours.max()


@pytest.mark.parametrize("node", ["body", "body,soft_tissue"])
def test_internal_node_is_the_sum_of_its_leaves(salt_maps, small_tree, node):
    leaves = [small_tree.node_id(n) for n in small_tree.subtree(node) if small_tree.is_leaf(n)]
    assert np.abs(salt_maps[node] - sum(salt_maps[leaf] for leaf in leaves)).max() < 1e-4


def test_whole_model_path_gives_the_same_maps(example_ct_small, probability_model, salt_maps):
    """``model.pt`` run whole (its own tree softmax) and the logits path blend to the same maps."""
    whole = engine_maps(example_ct_small, probability_model, "salt", whole_model=True)
    assert np.abs(whole["body,bone"] - salt_maps["body,bone"]).max() < 1e-4


def test_labels_do_not_change_when_maps_are_asked_for(example_ct_small, probability_model):
    model = load_model(probability_model, "cpu")
    options = SegmentOptions(backend="torch", precision="fp32")
    plain = segment_image(example_ct_small, model, options)
    with_maps = segment_image(example_ct_small, model, options, probabilities=NODES, confidence=True)
    np.testing.assert_array_equal(sitk.GetArrayViewFromImage(with_maps.labelmap),
                                  sitk.GetArrayViewFromImage(plain.labelmap))
