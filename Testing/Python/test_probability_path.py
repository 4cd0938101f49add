"""``result.path_probabilities(ijk)``: a voxel's probabilities down its path, recomputed from the
windows that cover it, equal to what the maps hold there."""
from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from probability_support import probability_model  # noqa: F401  (fixture)
from saltseg.errors import InputImageError
from saltseg.inference.pipeline import SegmentOptions, segment_image
from saltseg.model.model_io import load_model

NODES = ("body", "body,soft_tissue", "body,soft_tissue,muscle", "body,bone", "background")
#: Voxels (i, j, k) of the 30-slice CT: inside the body, at the scan's first and last slices, at
#: its in-plane edge (clamped interpolation), and where windows overlap.
VOXELS = [(60, 50, 15), (61, 70, 0), (40, 55, 29), (0, 0, 10), (121, 100, 29), (75, 40, 7)]


@pytest.fixture(scope="module", params=["salt", "flush"])
def segmented(request, example_ct_small, probability_model):
    options = SegmentOptions(backend="torch", precision="fp32", window_placement=request.param)
    result = segment_image(example_ct_small, load_model(probability_model, "cpu"), options, probabilities=NODES,
                           confidence=True)
    maps = {node: sitk.GetArrayFromImage(result.probability_map(node)) for node in NODES}
    return result, maps, sitk.GetArrayFromImage(result.confidence_map())


@pytest.mark.parametrize("voxel", VOXELS, ids=lambda v: "-".join(map(str, v)))
def test_path_probabilities_equal_the_maps(segmented, voxel):
    result, maps, _ = segmented
    path = result.path_probabilities(voxel)
    i, j, k = voxel
    recomputed = np.array([path.probabilities[node] for node in NODES])
    stored = np.array([maps[node][k, j, i] for node in NODES])
    assert np.abs(recomputed - stored).max() < 1e-4


def test_path_ends_at_the_voxels_label(segmented, small_tree):
    result, _, _ = segmented
    voxel = (60, 50, 15)
    leaf = small_tree.leaf_for_value(int(result.labelmap.GetPixel(voxel)))
    assert result.path_probabilities(voxel).steps[-1].node == small_tree.node_id(leaf)


def test_leaf_probability_on_the_path_is_the_confidence(segmented):
    """Where the label is the most probable leaf, the path's last probability is the confidence map's."""
    result, _, confidence = segmented
    voxel = (60, 50, 15)
    assert result.path_probabilities(voxel).steps[-1].probability == pytest.approx(confidence[15, 50, 60], abs=1e-3)


def test_each_step_is_the_product_of_the_conditionals_above(segmented):
    result, _, _ = segmented
    steps = result.path_probabilities((60, 50, 15)).steps
    assert steps[-1].probability == pytest.approx(float(np.prod([s.conditional for s in steps])), rel=1e-6)


def test_runner_up_is_the_strongest_sibling_where_the_model_is_unsure(segmented, small_tree):
    result, _, _ = segmented
    path = result.path_probabilities((60, 50, 15), sure=1.0)  # nothing is sure: the first step
    first = small_tree.index(path.steps[0].node)
    siblings = [n for n in small_tree.children(None) if n != first]
    strongest = max(siblings, key=lambda n: path.probabilities[small_tree.node_id(n)])
    assert path.runner_up.node == small_tree.node_id(strongest)


def test_path_reads_as_names_and_probabilities(segmented):
    result, _, _ = segmented
    path = result.path_probabilities((60, 50, 15), sure=1.0)
    assert str(path).startswith(f"{path.steps[0].name} {path.steps[0].probability:.2f} vs {path.runner_up.name}")


def test_a_voxel_outside_the_image_is_refused(segmented):
    result, _, _ = segmented
    with pytest.raises(InputImageError, match="outside the image"):
        result.path_probabilities((122, 0, 0))


def test_air_windows_skipped_count_as_certain_background_in_both(example_ct_small, probability_model):
    """With air skipping (here every window without a voxel above 600 HU), the recomputation skips
    the same windows as the sweep."""
    options = SegmentOptions(backend="torch", precision="fp32", skip_air=True, air_threshold_hu=600.0)
    result = segment_image(example_ct_small, load_model(probability_model, "cpu"), options,
                           probabilities=["background"])
    assert result.stats["windows_skipped"] > 0  # the case is exercised
    stored = sitk.GetArrayFromImage(result.probability_map("background"))
    recomputed = [result.path_probabilities(v).probabilities["background"] for v in VOXELS]
    assert np.abs(np.array(recomputed) - np.array([stored[k, j, i] for i, j, k in VOXELS])).max() < 1e-4
