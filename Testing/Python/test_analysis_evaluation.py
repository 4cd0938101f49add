"""Hierarchical evaluation: Dice and NSD per tree node against MONAI's DiceMetric and
compute_surface_dice, on the shared CT's TotalSegmentator segmentation (truth) and a perturbed copy
(prediction), with anisotropic spacing; truths labelled only at `kidneys` or `bones`."""
from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest
import SimpleITK as sitk
import torch

from saltseg.analysis.evaluation import annotated_nodes, evaluate_case
from saltseg.analysis.evaluation_run import pairs_from_csv
from saltseg.analysis.label_names import map_names, read_name_table
from saltseg.analysis.surface_distance import dice, surface_dice
from saltseg.cli import main
from saltseg.errors import InputImageError
from saltseg.io.writers import write_labelmap, write_seg_nrrd

SPACING = (0.8, 1.5, 3.0)  # x, y, z in mm: anisotropic on purpose


def _monai(prediction: np.ndarray, truth: np.ndarray, spacing_zyx, tolerance: float) -> tuple[float, float]:
    from monai.metrics import DiceMetric, compute_surface_dice

    p = torch.as_tensor(prediction[None, None].astype(np.float32))
    t = torch.as_tensor(truth[None, None].astype(np.float32))
    metric = DiceMetric(include_background=True, reduction="none")
    metric(p, t)
    nsd = compute_surface_dice(p, t, [tolerance], include_background=True, spacing=list(spacing_zyx))
    return float(metric.aggregate()[0, 0]), float(nsd[0, 0])


@pytest.fixture(scope="module")
def cases(shared_data, salt_tree):
    """Truth: TotalSegmentator's labels; prediction: the same shifted by one voxel in x and y, with
    the spleen dropped and the liver eroded, as SALT leaf values. Both on an anisotropic grid."""
    truth = sitk.ReadImage(str(shared_data / "example_seg.nii.gz"))
    truth.SetSpacing(SPACING)
    names = read_name_table(shared_data / "example_seg_labels.json")
    mapping = map_names(salt_tree, names)
    array = sitk.GetArrayFromImage(truth)
    moved = np.roll(array, (1, 1), axis=(1, 2))
    moved[moved == 1] = 0  # spleen missed
    liver = moved == 5
    from scipy import ndimage
    moved[liver & ~ndimage.binary_erosion(liver, iterations=2)] = 0
    salt = np.zeros(array.shape, np.uint8)
    for value, node in mapping.label_nodes.items():
        if salt_tree.is_leaf(node):
            salt[moved == value] = salt_tree.label_value(node)
    prediction = sitk.GetImageFromArray(salt)
    prediction.CopyInformation(truth)
    leaf_nodes = {v: n for v, n in enumerate(salt_tree.leaves) if v != salt_tree.background_value}
    return truth, array, names, mapping, prediction, moved, leaf_nodes


def _mask(array: np.ndarray, names: dict, tree, node: str) -> np.ndarray:
    wanted = {tree.path(n)[-1] for n in tree.subtree(node)}
    return np.isin(array, [v for v, name in names.items() if name in wanted])


def test_dice_and_nsd_per_node_match_monai_with_anisotropic_spacing(cases, salt_tree):
    truth, array, names, mapping, prediction, moved, leaf_nodes = cases
    scores = {s.node: s for s in evaluate_case("ct", prediction, leaf_nodes, truth, mapping.label_nodes,
                                               salt_tree, tolerance_mm=2.0)}
    spacing_zyx = SPACING[::-1]
    checked = 0
    for node in ("body,abdominal_cavity,liver", "body,abdominal_cavity,spleen", "body,abdominal_cavity,kidneys",
                 "body,abdominal_cavity,kidneys,kidney_left", "body,bones,spine", "body,thoracic_cavity,lungs",
                 "body,muscles,autochthone"):
        assert node in scores, node
        truth_mask, predicted_mask = _mask(array, names, salt_tree, node), _mask(moved, names, salt_tree, node)
        expected_dice, expected_nsd = _monai(predicted_mask, truth_mask, spacing_zyx, 2.0)
        assert scores[node].dice == pytest.approx(expected_dice, abs=1e-6), node
        assert scores[node].nsd == pytest.approx(expected_nsd, abs=1e-6), node
        assert scores[node].truth_voxels == int(truth_mask.sum())
        checked += 1
    assert scores["body,abdominal_cavity,spleen"].dice == 0.0  # missed entirely
    assert 0.3 < scores["body,abdominal_cavity,liver"].dice < 1.0
    assert checked == 7


def test_a_prediction_on_another_grid_is_scored_on_the_truths_grid(cases, salt_tree):
    truth, array, names, mapping, prediction, moved, leaf_nodes = cases
    cropped = prediction[2:-2, 3:-3, 1:-1]  # an extent-only copy (what Slicer may store), same positions
    assert sitk.GetArrayViewFromImage(cropped).sum() == sitk.GetArrayViewFromImage(prediction)[1:-1, 3:-3, 2:-2].sum()
    kept = np.zeros(array.shape, bool)
    kept[1:-1, 3:-3, 2:-2] = True
    inside = sitk.GetImageFromArray(np.where(kept, sitk.GetArrayFromImage(prediction), 0).astype(np.uint8))
    inside.CopyInformation(prediction)
    on_grid = evaluate_case("ct", inside, leaf_nodes, truth, mapping.label_nodes, salt_tree)
    resampled = evaluate_case("ct", cropped, leaf_nodes, truth, mapping.label_nodes, salt_tree)
    assert [(s.node, s.predicted_voxels) for s in resampled] == [(s.node, s.predicted_voxels) for s in on_grid]
    np.testing.assert_equal([(s.dice, s.nsd) for s in resampled], [(s.dice, s.nsd) for s in on_grid])  # NaN == NaN


def test_nsd_grows_with_the_tolerance_and_is_one_for_identical_masks(cases, salt_tree):
    truth, array, names, *_ = cases
    liver = array == 5
    shifted = np.roll(liver, 2, axis=2)  # 2 voxels of 0.8 mm in x = 1.6 mm
    spacing = SPACING[::-1]
    assert surface_dice(liver, liver, spacing, 0.0) == 1.0 and dice(liver, liver) == 1.0
    assert surface_dice(liver, shifted, spacing, 0.5) < surface_dice(liver, shifted, spacing, 1.7) == 1.0
    assert math.isnan(surface_dice(liver & False, liver & False, spacing))
    assert surface_dice(liver, liver & False, spacing) == 0.0


def test_truth_labelled_only_at_kidneys_and_bones_is_scored_at_those_nodes(cases, salt_tree):
    truth, array, names, mapping, prediction, moved, leaf_nodes = cases
    coarse = np.zeros(array.shape, np.uint8)
    coarse[np.isin(array, [2, 3])] = 1  # kidneys, no side
    bone_names = {salt_tree.path(n)[-1] for n in salt_tree.subtree("body,bones")}
    bone_values = [v for v, name in names.items() if name in bone_names]
    coarse[np.isin(array, bone_values)] = 2
    coarse_truth = sitk.GetImageFromArray(coarse)
    coarse_truth.CopyInformation(truth)
    coarse_nodes = map_names(salt_tree, {1: "kidneys", 2: "bones"}).label_nodes
    scores = evaluate_case("ct", prediction, leaf_nodes, coarse_truth, coarse_nodes, salt_tree)
    assert [s.node for s in scores] == ["body,abdominal_cavity,kidneys", "body,bones"]
    for score in scores:
        # The prediction's subtree union against the coarse label.
        predicted_mask = _mask(moved, names, salt_tree, score.node)
        expected_dice, expected_nsd = _monai(predicted_mask, coarse == (1 if "kidneys" in score.node else 2),
                                             SPACING[::-1], 2.0)
        assert score.dice == pytest.approx(expected_dice, abs=1e-6)
        assert score.nsd == pytest.approx(expected_nsd, abs=1e-6)


def test_which_nodes_a_truth_annotates(salt_tree):
    index = salt_tree.index
    left_lung = index("body,thoracic_cavity,lungs,lung_left")
    lobes = [index(f"body,thoracic_cavity,lungs,lung_left,lung_{lobe}_lobe_left") for lobe in ("upper", "lower")]
    assert annotated_nodes(salt_tree, lobes) == sorted(lobes + [left_lung])  # both lobes: the lung too
    assert annotated_nodes(salt_tree, lobes[:1]) == lobes[:1]
    kidneys, left = index("body,abdominal_cavity,kidneys"), index("body,abdominal_cavity,kidneys,kidney_left")
    assert annotated_nodes(salt_tree, [left]) == [left]  # one side does not annotate the pair
    assert annotated_nodes(salt_tree, [kidneys, left]) == [kidneys]  # below a truth label: ambiguous
    assert annotated_nodes(salt_tree, [salt_tree.leaves[salt_tree.background_value]]) == []


def test_evaluate_command_writes_scores_summary_and_unmapped_labels(cases, salt_tree, shared_data, tmp_path):
    truth, array, names, mapping, prediction, *_ = cases
    write_seg_nrrd(prediction, tmp_path / "ct.seg.nrrd", salt_tree)
    sitk.WriteImage(truth, str(tmp_path / "ct_truth.nii.gz"))
    out = tmp_path / "scores.csv"
    assert main(["evaluate", str(tmp_path / "ct.seg.nrrd"), str(tmp_path / "ct_truth.nii.gz"),
                 "--truth-labels", str(shared_data / "example_seg_labels.json"), "-o", str(out)]) == 0
    with open(out, newline="") as handle:
        rows = {row["node"]: row for row in csv.DictReader(handle)}
    direct = {s.node: s for s in evaluate_case("ct", prediction, {v: n for v, n in enumerate(salt_tree.leaves)
                                                                  if v != salt_tree.background_value},
                                               truth, mapping.label_nodes, salt_tree)}
    assert set(rows) == set(direct)
    liver_node = "body,abdominal_cavity,liver"
    assert float(rows[liver_node]["dice"]) == pytest.approx(direct[liver_node].dice, abs=1e-4)
    assert rows[liver_node]["case"] == "ct" and rows[liver_node]["depth"] == "3"
    with open(tmp_path / "scores.summary.csv", newline="") as handle:
        summary = list(csv.DictReader(handle))
    assert {row["level"] for row in summary} == {"node", "depth"}
    with open(tmp_path / "scores.unmapped.csv", newline="") as handle:
        unmapped = {row["name"] for row in csv.DictReader(handle)}
    present = {names[v] for v in np.unique(array) if v}
    assert unmapped and unmapped <= present  # e.g. TotalSegmentator's costal cartilages: no SALT node
    assert unmapped == {name for name in present if name not in {salt_tree.path(n)[-1] for n in range(len(salt_tree))}}
    # JSON output: one document.
    assert main(["evaluate", str(tmp_path / "ct.seg.nrrd"), str(tmp_path / "ct_truth.nii.gz"),
                 "--truth-labels", str(shared_data / "example_seg_labels.json"), "-o", str(tmp_path / "s.json")]) == 0
    document = json.loads((tmp_path / "s.json").read_text())
    assert len(document["scores"]) == len(rows) and document["unmapped_truth_labels"]


def test_evaluate_folders_and_case_lists_with_salt_tree_labels(cases, salt_tree, shared_data, tmp_path):
    truth, array, names, mapping, prediction, *_ = cases
    (tmp_path / "pred").mkdir()
    (tmp_path / "truth").mkdir()
    for case in ("a", "b"):
        write_labelmap(prediction, tmp_path / "pred" / f"{case}.nii.gz", salt_tree)
        # A truth in SALT's dataset layout: values 1, 2 = kidneys (no side), bones.
        coarse = np.zeros(array.shape, np.uint8)
        coarse[np.isin(array, [2, 3])] = 1
        coarse[array == 25] = 2  # the sacrum stands for the bones here; only the protocol matters
        image = sitk.GetImageFromArray(coarse)
        image.CopyInformation(truth)
        sitk.WriteImage(image, str(tmp_path / "truth" / f"{case}.nii.gz"))
    (tmp_path / "tree-labels.txt").write_text("background\nbody,abdominal_cavity,kidneys\nbody,bones\n")
    out = tmp_path / "scores.csv"
    assert main(["evaluate", str(tmp_path / "pred"), str(tmp_path / "truth"),
                 "--truth-labels", str(tmp_path / "tree-labels.txt"), "-o", str(out)]) == 0
    with open(out, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["case"], r["node"]) for r in rows] == [(c, n) for c in "ab" for n in
                                                      ("body,abdominal_cavity,kidneys", "body,bones")]
    (tmp_path / "cases.csv").write_text("case,prediction,truth,truth_labels\n"
                                        "x,pred/a.nii.gz,truth/a.nii.gz,tree-labels.txt\n")
    assert [p.case for p in pairs_from_csv(tmp_path / "cases.csv")] == ["x"]
    (tmp_path / "pred").rename(tmp_path / "predictions")  # a --cases folder: predictions/ and truth/
    assert main(["evaluate", "--cases", str(tmp_path), "--truth-labels", str(tmp_path / "tree-labels.txt"),
                 "-o", str(out)]) == 0
    with open(out, newline="") as handle:
        assert len(list(csv.DictReader(handle))) == 4
    (tmp_path / "predictions").rename(tmp_path / "pred")
    assert main(["evaluate", "--cases", str(tmp_path / "cases.csv"), "-o", str(out)]) == 0
    with open(tmp_path / "scores.summary.csv", newline="") as handle:
        summary = {(r["level"], r["key"]): r for r in csv.DictReader(handle)}
    assert summary[("node", "body,bones")]["cases"] == "1"
    assert set(summary) == {("node", "body,abdominal_cavity,kidneys"), ("node", "body,bones"),
                            ("depth", "2"), ("depth", "3")}


def test_evaluate_refuses_a_truth_without_names(cases, salt_tree, tmp_path, capsys):
    truth, array, names, mapping, prediction, *_ = cases
    write_seg_nrrd(prediction, tmp_path / "ct.seg.nrrd", salt_tree)
    sitk.WriteImage(truth, str(tmp_path / "truth.nii.gz"))
    assert main(["evaluate", str(tmp_path / "ct.seg.nrrd"), str(tmp_path / "truth.nii.gz"),
                 "-o", str(tmp_path / "scores.csv")]) == 1
    assert "--truth-labels" in capsys.readouterr().err
    assert not (tmp_path / "scores.csv").exists()
    (tmp_path / "bad.csv").write_text("prediction\nx\n")
    with pytest.raises(InputImageError, match="columns prediction and truth"):
        pairs_from_csv(tmp_path / "bad.csv")


def test_evaluate_maps_truth_names_through_a_mapping_file(cases, salt_tree, shared_data, tmp_path):
    # A dataset that names its liver "Leber": unmapped by the tree's own names, scored at the liver
    # node through a mapping file in organize's format.
    truth, array, names, mapping, prediction, *_ = cases
    write_seg_nrrd(prediction, tmp_path / "ct.seg.nrrd", salt_tree)
    sitk.WriteImage(truth, str(tmp_path / "ct_truth.nii.gz"))
    renamed = {value: ("Leber" if name == "liver" else name) for value, name in names.items()}
    (tmp_path / "names.json").write_text(json.dumps({str(v): n for v, n in renamed.items()}))
    (tmp_path / "mine.json").write_text(json.dumps({"format": "saltseg-name-scheme", "version": 1,
                                                    "structures": {"Leber": "body,abdominal_cavity,liver"}}))
    common = [str(tmp_path / "ct.seg.nrrd"), str(tmp_path / "ct_truth.nii.gz"),
              "--truth-labels", str(tmp_path / "names.json")]
    assert main(["evaluate", *common, "--scheme", "tree", "-o", str(tmp_path / "plain.csv")]) == 0
    with open(tmp_path / "plain.unmapped.csv", newline="") as handle:
        assert "Leber" in {row["name"] for row in csv.DictReader(handle)}
    assert main(["evaluate", *common, "--scheme", str(tmp_path / "mine.json"), "-o", str(tmp_path / "mapped.csv")]) == 0
    with open(tmp_path / "mapped.csv", newline="") as handle:
        rows = {row["node"]: row for row in csv.DictReader(handle)}
    with open(tmp_path / "plain.csv", newline="") as handle:
        plain = {row["node"]: row for row in csv.DictReader(handle)}
    assert "body,abdominal_cavity,liver" in rows and "body,abdominal_cavity,liver" not in plain
    direct = {s.node: s for s in evaluate_case("ct", prediction, {v: n for v, n in enumerate(salt_tree.leaves)
                                                                  if v != salt_tree.background_value},
                                               truth, mapping.label_nodes, salt_tree)}
    assert float(rows["body,abdominal_cavity,liver"]["dice"]) == pytest.approx(
        direct["body,abdominal_cavity,liver"].dice, abs=1e-4)
