"""``saltseg evaluate --calibration``: the probability maps beside each prediction against the truth,
per node: expected calibration error and the reliability table behind it."""
from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from probability_support import probability_model  # noqa: F401  (fixture)
from saltseg.analysis.calibration import NodeCalibration
from saltseg.cli import main

MAPS = ("body,bone", "body,fat")


def read_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def pair(shared_data, probability_model, tmp_path_factory) -> tuple[Path, Path]:
    """A prediction with its maps, and a truth: the same labels in another folder (a SALT result
    is a truth the evaluation reads by tree path)."""
    folder = tmp_path_factory.mktemp("calibration")
    (folder / "pred").mkdir()
    (folder / "truth").mkdir()
    shutil.copyfile(shared_data / "example_ct_sm.nii.gz", folder / "ct.nii.gz")
    assert main(["segment", str(folder / "ct.nii.gz"), "-o", str(folder / "pred" / "ct.seg.nrrd"),
                 "--probabilities", *MAPS, "--model", str(probability_model), "--device", "cpu", "--backend", "torch",
                 "--precision", "fp32", "--quiet"]) == 0
    shutil.copyfile(folder / "pred" / "ct.seg.nrrd", folder / "truth" / "ct.seg.nrrd")
    return folder / "pred" / "ct.seg.nrrd", folder / "truth" / "ct.seg.nrrd"


def test_calibrated_bins_have_no_error():
    calibration = NodeCalibration(bins=4)
    calibration.add(np.array([0.3] * 10 + [0.8] * 10), np.array([1] * 3 + [0] * 7 + [1] * 8 + [0] * 2))
    assert calibration.ece == pytest.approx(0.0, abs=1e-12)


def test_overconfident_map_has_the_gap_as_its_error():
    calibration = NodeCalibration(bins=10)
    calibration.add(np.full(10, 0.95), np.array([1] * 5 + [0] * 5))
    assert calibration.ece == pytest.approx(0.45)


def test_ece_per_node_is_computed_from_the_map_and_the_truth(pair, tmp_path, small_tree):
    prediction, truth = pair
    assert main(["evaluate", str(prediction), str(truth), "--calibration", "-o", str(tmp_path / "scores.csv")]) == 0
    ece = {row["node"]: float(row["ece"]) for row in read_rows(tmp_path / "scores.calibration.csv")}
    probability = sitk.GetArrayFromImage(sitk.ReadImage(str(prediction.parent / "ct.prob.body-bone.nii.gz")))
    labels = sitk.GetArrayFromImage(sitk.ReadImage(str(truth)))
    bone = labels == small_tree.label_value("body,bone")
    bins = np.minimum((probability * 10).astype(int), 9)
    expected = sum(abs(bone[bins == b].mean() - probability[bins == b].mean()) * np.count_nonzero(bins == b)
                   for b in range(10) if np.any(bins == b)) / probability.size
    assert ece["body,bone"] == pytest.approx(expected, abs=1e-5)


def test_reliability_table_has_every_bin_of_every_node(pair, tmp_path):
    prediction, truth = pair
    assert main(["evaluate", str(prediction), str(truth), "--calibration", "--bins", "5",
                 "-o", str(tmp_path / "scores.csv")]) == 0
    rows = read_rows(tmp_path / "scores.reliability.csv")
    expected = sorted((node, str(b)) for node in MAPS for b in range(5))
    assert sorted((row["node"], row["bin"]) for row in rows) == expected


def test_json_report_carries_the_calibration(pair, tmp_path):
    prediction, truth = pair
    assert main(["evaluate", str(prediction), str(truth), "--calibration", "-o", str(tmp_path / "scores.json")]) == 0
    calibration = json.loads((tmp_path / "scores.json").read_text())["calibration"]
    assert [(entry["node"], len(entry["bins"])) for entry in calibration] == [(node, 10) for node in sorted(MAPS)]


def test_calibration_without_maps_says_how_to_make_them(pair, tmp_path, capsys):
    _, truth = pair
    assert main(["evaluate", str(truth), str(truth), "--calibration", "-o", str(tmp_path / "scores.csv")]) == 1
    assert "write them with saltseg segment --probabilities" in capsys.readouterr().err
