"""A prediction and its truth, or a segmentation and its CT, that do not lie in the same place:
no overlap is an error naming both physical extents (not Dice 0 or 0 voxels everywhere), a partial
overlap a warning with the fraction that overlaps. On the shared CT and its reference segmentation,
through `saltseg evaluate` and `saltseg stats`."""
from __future__ import annotations

import logging

import numpy as np
import pytest
import SimpleITK as sitk

from saltseg.analysis.evaluation import evaluate_case
from saltseg.analysis.label_names import map_names, read_name_table
from saltseg.analysis.statistics import labelmap_statistics, leaf_label_nodes
from saltseg.cli import main
from saltseg.io.writers import write_seg_nrrd

FIVE_METRES = 5000.0


@pytest.fixture(scope="module")
def reference(shared_data, salt_tree, tmp_path_factory):
    """The reference segmentation (truth), the same as SALT leaf values (prediction), its
    ``.seg.nrrd`` and the truth's value → node mapping."""
    truth = sitk.ReadImage(str(shared_data / "example_seg.nii.gz"))
    mapping = map_names(salt_tree, read_name_table(shared_data / "example_seg_labels.json"))
    array = sitk.GetArrayFromImage(truth)
    salt = np.zeros(array.shape, np.uint8)
    for value, node in mapping.label_nodes.items():
        if salt_tree.is_leaf(node):
            salt[array == value] = salt_tree.label_value(node)
    prediction = sitk.GetImageFromArray(salt)
    prediction.CopyInformation(truth)
    path = write_seg_nrrd(prediction, tmp_path_factory.mktemp("overlap") / "ct.seg.nrrd", salt_tree)
    return truth, prediction, path, mapping.label_nodes


def _moved(image: sitk.Image, offset_mm: tuple[float, float, float]) -> sitk.Image:
    moved = sitk.Image(image)
    moved.SetOrigin(tuple(o + d for o, d in zip(image.GetOrigin(), offset_mm)))
    return moved


def _extent_text(image: sitk.Image) -> str:
    """``x a..b, y c..d, z e..f`` from the voxel edges of an axis-aligned image (mm, LPS)."""
    direction = np.asarray(image.GetDirection()).reshape(3, 3).diagonal()
    parts = []
    for axis, name in enumerate("xyz"):
        step = direction[axis] * image.GetSpacing()[axis]
        ends = sorted(image.GetOrigin()[axis] + step * np.array([-0.5, image.GetSize()[axis] - 0.5]))
        parts.append(f"{name} {ends[0]:.1f}..{ends[1]:.1f}")
    return ", ".join(parts)


def test_evaluate_with_a_truth_5_m_away_fails_naming_both_extents(reference, shared_data, tmp_path, capsys):
    truth, prediction, path, _ = reference
    far = _moved(truth, (0.0, 0.0, FIVE_METRES))
    sitk.WriteImage(far, str(tmp_path / "ct_truth.nii.gz"))
    out = tmp_path / "scores.csv"
    code = main(["evaluate", str(path), str(tmp_path / "ct_truth.nii.gz"),
                 "--truth-labels", str(shared_data / "example_seg_labels.json"), "-o", str(out)])
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 1
    assert len(lines) == 1, lines
    assert "do not overlap" in lines[0]
    assert _extent_text(prediction) in lines[0]
    assert _extent_text(far) in lines[0]
    assert not out.exists()


def test_evaluate_with_a_truth_overlapping_in_part_warns_with_the_fraction(reference, salt_tree, caplog):
    truth, prediction, _, truth_nodes = reference
    # 12 of the 30 slices (3 mm) further up: 18 / 30 of the prediction lies inside the truth.
    shifted = _moved(truth, (0.0, 0.0, 36.0))
    with caplog.at_level(logging.WARNING):
        scores = evaluate_case("ct", prediction, leaf_label_nodes(salt_tree), shifted, truth_nodes, salt_tree)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, warnings
    assert "60.0 %" in warnings[0]
    assert scores  # still scored: a partial overlap is the user's call


def test_stats_with_a_ct_elsewhere_fails(reference, shared_data, tmp_path, capsys):
    _, _, path, _ = reference
    ct = sitk.ReadImage(str(shared_data / "example_ct_sm.nii.gz"))
    sitk.WriteImage(_moved(ct, (FIVE_METRES, 0.0, 0.0)), str(tmp_path / "elsewhere.nii.gz"))
    out = tmp_path / "stats.csv"
    code = main(["stats", str(path), "--ct", str(tmp_path / "elsewhere.nii.gz"), "-o", str(out)])
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 1
    assert len(lines) == 1, lines
    assert "the segmentation and the CT do not overlap in space" in lines[0]
    assert not out.exists()


def test_statistics_warn_only_when_part_of_the_segmentation_lies_outside_the_ct(reference, shared_data,
                                                                                salt_tree, caplog):
    _, prediction, _, _ = reference
    ct = sitk.ReadImage(str(shared_data / "example_ct_sm.nii.gz"))
    with caplog.at_level(logging.WARNING):
        labelmap_statistics(prediction, ct[:, :, :15], salt_tree)  # the CT's lower half only
    partial = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        labelmap_statistics(prediction[5:-5, 5:-5, 2:-2], ct, salt_tree)  # cropped, as Slicer stores it
    nested = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(partial) == 1, partial
    assert "50.0 % of the segmentation lies inside the CT" in partial[0]
    assert nested == []
