"""End to end on the real shared CT: labels land on the input grid, whatever its orientation."""
from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from conftest import SMALL_RULES
from saltseg.errors import Cancelled, InsufficientMemoryError
from saltseg.model.model_io import load_model
from saltseg.inference.pipeline import SegmentOptions, segment_image
from saltseg.progress import CancelToken
from saltseg.model.threshold_model import export_threshold_model

EXACT = SegmentOptions(largest_component=False)


@pytest.fixture(scope="module")
def native_model(tmp_path_factory, small_tree):
    """Threshold model at the shared CT's own 3 mm spacing, so labels can be checked exactly."""
    folder = export_threshold_model(tmp_path_factory.mktemp("native"), small_tree, roi_size=(48, 48, 16),
                                    voxel_spacing=(3.0, 3.0, 3.0), rules=SMALL_RULES)
    return load_model(folder, "cpu")


def expected_values(hu: np.ndarray, tree) -> np.ndarray:
    """What the threshold rules say each voxel is (label values)."""
    result = np.full(hu.shape, tree.label_value("background"), np.uint8)
    for bound, path in SMALL_RULES[1:]:
        result[hu > bound] = tree.label_value(path)
    return result


def agreement(result_image: sitk.Image, ct: sitk.Image, tree, margin_hu: float = 15.0) -> float:
    hu = sitk.GetArrayFromImage(ct).astype(float)
    labels = sitk.GetArrayFromImage(result_image)
    decided = np.ones(hu.shape, bool)
    for bound, _ in SMALL_RULES[1:]:
        decided &= np.abs(hu - bound) > margin_hu  # partial-volume voxels at a threshold may go either way
    return float(np.mean(labels[decided] == expected_values(hu, tree)[decided]))


def same_grid(a: sitk.Image, b: sitk.Image) -> bool:
    return (a.GetSize() == b.GetSize() and np.allclose(a.GetSpacing(), b.GetSpacing())
            and np.allclose(a.GetOrigin(), b.GetOrigin()) and np.allclose(a.GetDirection(), b.GetDirection()))


def test_labels_match_the_ct_voxel_for_voxel(example_ct_small, native_model, small_tree):
    result = segment_image(example_ct_small, native_model, EXACT)
    assert same_grid(result.labelmap, example_ct_small)
    assert agreement(result.labelmap, example_ct_small, small_tree) > 0.9999
    names = {entry.name for entry in result.label_table()}
    assert {"Bone", "Fat", "Muscle"} <= names
    assert set(result.timings) == {"preprocessing", "inference", "postprocessing"}


def flipped_storage(image: sitk.Image, axes) -> sitk.Image:
    """The same physical image stored with flipped axes (index order reversed, direction negated)."""
    array = sitk.GetArrayFromImage(image)
    for axis in axes:  # sitk axis i is numpy axis 2 - i
        array = np.flip(array, 2 - axis)
    flipped = sitk.GetImageFromArray(np.ascontiguousarray(array))
    flipped.SetSpacing(image.GetSpacing())
    direction = np.asarray(image.GetDirection()).reshape(3, 3).copy()
    last = [s - 1 for s in image.GetSize()]
    corner = [last[i] if i in axes else 0 for i in range(3)]
    flipped.SetOrigin(image.TransformIndexToPhysicalPoint(corner))
    for axis in axes:
        direction[:, axis] *= -1
    flipped.SetDirection(tuple(direction.ravel()))
    return flipped


def test_flipped_storage_gives_the_same_physical_labels(example_ct_small, native_model, small_tree):
    reference = segment_image(example_ct_small, native_model, EXACT).labelmap
    flipped_ct = flipped_storage(example_ct_small, axes=(0, 2))
    result = segment_image(flipped_ct, native_model, EXACT).labelmap
    assert same_grid(result, flipped_ct)
    back = sitk.Resample(result, reference, sitk.Transform(), sitk.sitkNearestNeighbor, 0, result.GetPixelID())
    assert np.mean(sitk.GetArrayFromImage(back) == sitk.GetArrayFromImage(reference)) > 0.999


def test_oblique_input_keeps_its_grid(example_ct_small, native_model, small_tree):
    oblique = sitk.Image(example_ct_small)
    angle = np.deg2rad(12)
    rotation = np.array([[np.cos(angle), 0, np.sin(angle)], [0, 1, 0], [-np.sin(angle), 0, np.cos(angle)]])
    oblique.SetDirection(tuple((rotation @ np.asarray(example_ct_small.GetDirection()).reshape(3, 3)).ravel()))
    result = segment_image(oblique, native_model, EXACT).labelmap
    assert same_grid(result, oblique)
    # Resampled through a rotated processing grid and back: nearly every voxel keeps its label.
    assert agreement(result, oblique, small_tree) > 0.97


def test_largest_component_removes_islands(example_ct_small, native_model, small_tree):
    ct = sitk.Image(example_ct_small)
    ct[2:5, 2:5, 10:13] = 40  # a blob of "muscle" in the air, outside the body
    kept = sitk.GetArrayFromImage(segment_image(ct, native_model, EXACT).labelmap)
    cleaned = sitk.GetArrayFromImage(segment_image(ct, native_model).labelmap)
    island = (slice(11, 12), slice(3, 4), slice(3, 4))
    assert kept[island].item() != 0 and cleaned[island].item() == 0
    # Only small islands go (the blob, bits of the table): the body stays whole.
    assert np.mean(kept != cleaned) < 0.01 and (cleaned != 0).sum() > 0.95 * (kept != 0).sum()


def test_node_mask_is_the_union_of_its_leaves(example_ct_small, native_model, small_tree):
    result = segment_image(example_ct_small, native_model, EXACT)
    labels = sitk.GetArrayFromImage(result.labelmap)
    soft = sitk.GetArrayFromImage(result.node_mask("body,soft_tissue")).astype(bool)
    values = [small_tree.label_value(p) for p in ("body,soft_tissue,muscle", "body,soft_tissue,organ_left",
                                                 "body,soft_tissue,organ_right")]
    assert np.array_equal(soft, np.isin(labels, values)) and soft.any()
    body = sitk.GetArrayFromImage(result.node_mask("body")).astype(bool)
    assert np.array_equal(body, labels != small_tree.label_value("background"))


def test_progress_reports_stages_in_order_and_cancel_stops(example_ct_small, native_model):
    seen = []
    segment_image(example_ct_small, native_model, progress=lambda stage, f: seen.append((stage, f)))
    stages = [stage for stage, _ in seen]
    assert stages[0] == "preprocessing" and stages[-1] == "postprocessing" and "inference" in stages
    assert seen[-1][1] == 1.0
    token = CancelToken()

    def cancel_during_inference(stage, fraction):
        if stage == "inference" and fraction > 0.2:
            token.cancel()

    with pytest.raises(Cancelled):
        segment_image(example_ct_small, native_model, progress=cancel_during_inference, cancel=token)


def test_impossible_memory_need_is_refused_before_starting(example_ct_small, native_model):
    calls = []
    with pytest.raises(InsufficientMemoryError, match=r"needs about \d+\.\d GiB of RAM but only 0\.0 GiB"):
        segment_image(example_ct_small, native_model, SegmentOptions(host_memory_limit=1_000_000),
                      progress=lambda stage, f: calls.append(stage))
    assert "inference" not in calls


def test_real_memory_check_refuses_a_huge_resampled_volume(tmp_path, small_tree):
    """A coarse 10 mm CT segmented with a 0.05 mm model would need terabytes."""
    folder = export_threshold_model(tmp_path, small_tree, roi_size=(16, 16, 8), voxel_spacing=(0.05, 0.05, 0.05),
                                    rules=SMALL_RULES)
    ct = sitk.Image([200, 200, 100], sitk.sitkInt16) - 1000
    ct.SetSpacing((10.0, 10.0, 10.0))
    ct[50:150, 50:150, 20:80] = 40
    with pytest.raises(InsufficientMemoryError, match="needs about"):
        segment_image(ct, load_model(folder, "cpu"))
