"""Reading a ``.seg.nrrd`` into one labelmap: one lookup per shared layer gives exactly what one
mask per segment, painted in segment order, gives — on multi-layer files whose segments overlap and
on the demo's output format — and names the same overlapping segments."""
from __future__ import annotations

import logging

import numpy as np
import pytest
import SimpleITK as sitk
import slicerio

from saltseg.analysis.segmentation_file import read_tree_segmentation
from saltseg.errors import InputImageError
from saltseg.io.writers import write_result
from saltseg.phantom import PHANTOM_LEAF_PATHS, generate_phantom, phantom_tree
from segmentation_file_support import OVERLAP_SEGMENTS, per_segment_codes, write_overlapping_layers


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_overlapping_layers_read_as_one_mask_per_segment_would(small_tree, tmp_path, caplog, seed):
    path = write_overlapping_layers(tmp_path / "overlap.seg.nrrd", small_tree, seed)
    expected, overlapping = per_segment_codes(path)
    with caplog.at_level(logging.WARNING):
        result = read_tree_segmentation(path)
    named = [r.getMessage().split("'")[1] for r in caplog.records if "overlaps another" in r.getMessage()]
    assert np.array_equal(sitk.GetArrayViewFromImage(result.labelmap), expected)
    assert result.label_nodes == {i + 1: small_tree.index(p) for i, (p, _, _) in enumerate(OVERLAP_SEGMENTS)}
    assert named == overlapping
    assert len(overlapping) >= 5  # the file does exercise overlaps across layers and a shared value


def test_the_demo_output_reads_as_one_mask_per_segment_would(tmp_path):
    # The demo's output: the phantom tree (the demo model's), written by write_result (one shared layer).
    tree = phantom_tree()
    phantom = generate_phantom(3000)
    to_model = np.array([tree.label_value(p) for p in PHANTOM_LEAF_PATHS], dtype=np.uint8)
    labelmap = sitk.GetImageFromArray(to_model[sitk.GetArrayViewFromImage(phantom.labels)])
    labelmap.CopyInformation(phantom.labels)
    path = write_result(labelmap, tmp_path / "phantom_03000.seg.nrrd", tree)[0]
    expected, overlapping = per_segment_codes(path)
    result = read_tree_segmentation(path)
    segments = slicerio.read_segmentation(str(path), skip_voxels=True)["segments"]
    assert np.array_equal(sitk.GetArrayViewFromImage(result.labelmap), expected)
    assert result.label_nodes == {i + 1: tree.index(s["id"]) for i, s in enumerate(segments)}
    assert overlapping == []


def test_a_segment_in_a_layer_the_file_lacks_is_refused(small_tree, tmp_path):
    path = write_overlapping_layers(tmp_path / "overlap.seg.nrrd", small_tree)
    text = path.read_bytes().replace(b"Segment3_Layer:=2", b"Segment3_Layer:=5")
    (tmp_path / "bad.seg.nrrd").write_bytes(text)
    with pytest.raises(InputImageError, match=r"bad\.seg\.nrrd: segment .* is in layer 5, but the file has 3 layer"):
        read_tree_segmentation(tmp_path / "bad.seg.nrrd")
