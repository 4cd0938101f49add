"""*Show uncertain voxels* (real MRML): a segment of the selected structure's voxels whose confidence
is below the engine's threshold, equal to numpy's; named for review, in its own colour, outside the
label tree; asked again, it is replaced; without a confidence map, a clear error and no change."""
from __future__ import annotations

import numpy as np
import pytest

from saltseg.analysis.statistics import UNCERTAIN_BELOW
from slicer_test_support import published_tree, segment_mask  # noqa: F401
from slicer_probability_support import BONES, KIDNEYS, scene_with_maps
from SALTSegmentationLib.scene import subtrees
from SALTSegmentationLib.scene.probability_maps import remove_maps
from SALTSegmentationLib.scene.uncertain_voxels import UNCERTAIN_COLOR, NoConfidenceMap, add_uncertain_segment


@pytest.fixture
def maps(tmp_path, published_tree):
    return scene_with_maps(tmp_path, published_tree)


def expected(maps, node_id: str) -> np.ndarray:
    return maps.node_voxels(node_id) & (maps.confidence / 255.0 < UNCERTAIN_BELOW)


@pytest.mark.parametrize("node_id", [KIDNEYS, BONES])
def test_the_segment_is_the_nodes_voxels_below_the_threshold(maps, node_id):
    region = add_uncertain_segment(maps.segmentation, node_id)
    np.testing.assert_array_equal(segment_mask(maps.segmentation, region.segment_id, maps.ct),
                                  expected(maps, node_id))


def test_the_region_reports_its_voxels_and_volume(maps):
    region = add_uncertain_segment(maps.segmentation, KIDNEYS)
    voxels = int(expected(maps, KIDNEYS).sum())
    assert (region.voxels, region.volume_ml) == (voxels, pytest.approx(voxels * 27 / 1000))


def test_the_segment_is_named_for_review_in_its_own_colour(maps):
    region = add_uncertain_segment(maps.segmentation, KIDNEYS)
    segment = maps.segmentation.GetSegmentation().GetSegment(region.segment_id)
    assert (segment.GetName(), segment.GetColor()) == ("uncertain: Kidneys", UNCERTAIN_COLOR)


def test_the_segment_stays_out_of_the_label_tree(maps):
    region = add_uncertain_segment(maps.segmentation, KIDNEYS)
    assert not subtrees.tree_panel_model(maps.segmentation).has_segment(region.segment_id)


def test_asking_again_replaces_the_segment(maps):
    segmentation = maps.segmentation.GetSegmentation()
    count = segmentation.GetNumberOfSegments()
    add_uncertain_segment(maps.segmentation, KIDNEYS)
    add_uncertain_segment(maps.segmentation, KIDNEYS)
    assert segmentation.GetNumberOfSegments() == count + 1


def test_without_a_confidence_map_it_says_so_and_changes_nothing(maps):
    remove_maps(maps.segmentation)
    count = maps.segmentation.GetSegmentation().GetNumberOfSegments()
    with pytest.raises(NoConfidenceMap, match="'CT segmentation' has no confidence map: segment again with "
                                              "Output → Probability maps checked"):
        add_uncertain_segment(maps.segmentation, KIDNEYS)
    assert maps.segmentation.GetSegmentation().GetNumberOfSegments() == count


def test_a_node_without_uncertain_voxels_gets_no_segment(maps, published_tree):
    from SALTSegmentationLib.scene.probability_maps import confidence_map, map_voxels

    map_voxels(confidence_map(maps.segmentation))[:] = 255  # the model was sure everywhere
    count = maps.segmentation.GetSegmentation().GetNumberOfSegments()
    region = add_uncertain_segment(maps.segmentation, KIDNEYS)
    assert region.segment_id is None
    assert maps.segmentation.GetSegmentation().GetNumberOfSegments() == count


def test_byte_and_float_maps_mark_the_same_voxels_uncertain():
    from SALTSegmentationLib.scene.uncertain_voxels import below_threshold

    probability = np.random.default_rng(5).random(200_000).astype(np.float32)
    stored = np.rint(probability * 255).astype(np.uint8)  # as the engine stores a uint8 map
    np.testing.assert_array_equal(below_threshold(stored, 1 / 255, UNCERTAIN_BELOW),
                                  below_threshold(probability, 1.0, UNCERTAIN_BELOW))
