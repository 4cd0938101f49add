"""Statistics with a confidence map: ``mean_probability`` and ``uncertain_ml`` per node, from
``saltseg segment --statistics``, ``saltseg stats --confidence`` and ``saltseg batch``."""
from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from probability_support import probability_model  # noqa: F401  (fixture)
from saltseg.analysis.statistics import CONFIDENCE_FIELDS, COLUMNS, NodeStatistics, tree_statistics
from saltseg.batch.statistics_table import read_statistics, write_statistics_table
from saltseg.cli import main
from saltseg.inference.options import SegmentOptions


def options(model: Path) -> list[str]:
    return ["--model", str(model), "--device", "cpu", "--backend", "torch", "--precision", "fp32", "--quiet"]


def read_rows(path: Path) -> dict[str, dict[str, str]]:
    with open(path, newline="") as handle:
        return {row["node"]: row for row in csv.DictReader(handle)}


@pytest.fixture(scope="module")
def segmented(shared_data, probability_model, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("segmented")
    shutil.copyfile(shared_data / "example_ct_sm.nii.gz", folder / "ct.nii.gz")
    assert main(["segment", str(folder / "ct.nii.gz"), "-o", str(folder / "result.seg.nrrd"), "--confidence",
                 "--statistics", str(folder / "stats.csv"), *options(probability_model)]) == 0
    return folder


def labels_of(tree, *paths) -> np.ndarray:
    return np.array([[tree.label_value(path) for path in paths]], dtype=np.uint8)


VOXELS = ("background", "body,fat", "body,fat", "body,soft_tissue,muscle", "body,bone", "body,bone")


def test_mean_probability_is_the_confidence_averaged_over_the_nodes_voxels(small_tree):
    labels = labels_of(small_tree, *VOXELS)
    confidence = np.array([[0.9, 0.2, 0.6, 0.8, 1.0, 0.4]])
    rows = {row.node: row for row in tree_statistics(labels, None, small_tree, dict(enumerate(small_tree.leaves)),
                                                     1.0, confidence=confidence)}
    assert rows["body"].mean_probability == pytest.approx((0.2 + 0.6 + 0.8 + 1.0 + 0.4) / 5)


def test_uncertain_volume_counts_voxels_below_the_threshold(small_tree):
    labels = labels_of(small_tree, *VOXELS)
    confidence = np.array([[0.9, 0.2, 0.6, 0.8, 1.0, 0.4]])
    rows = {row.node: row for row in tree_statistics(labels, None, small_tree, dict(enumerate(small_tree.leaves)),
                                                     2.0, confidence=confidence, uncertain_below=0.7)}
    assert (rows["body"].uncertain_ml, rows["body,bone"].uncertain_ml) == (6.0, 2.0)


def test_segment_statistics_match_the_written_confidence_map(segmented, small_tree):
    """mean_probability of a node is the mean of the written map over the node's voxels (the map's
    uint8 steps of 1/255 bound the difference)."""
    labels = sitk.GetArrayFromImage(sitk.ReadImage(str(segmented / "result.seg.nrrd")))
    confidence = sitk.GetArrayFromImage(sitk.ReadImage(str(segmented / "result.confidence.nii.gz")))
    body = np.isin(labels, [v for v in small_tree.subtree_label_values("body")])
    assert float(read_rows(segmented / "stats.csv")["body"]["mean_probability"]) == pytest.approx(
        confidence[body].mean(), abs=0.003)


def test_stats_command_with_the_confidence_map_gives_the_segment_columns(segmented, tmp_path):
    assert main(["stats", str(segmented / "result.seg.nrrd"), "--ct", str(segmented / "ct.nii.gz"),
                 "--confidence", str(segmented / "result.confidence.nii.gz"), "-o", str(tmp_path / "s.csv")]) == 0
    ours, theirs = read_rows(tmp_path / "s.csv"), read_rows(segmented / "stats.csv")
    assert {n: float(r["mean_probability"] or "nan") for n, r in ours.items() if r["voxels"] != "0"} == pytest.approx(
        {n: float(r["mean_probability"] or "nan") for n, r in theirs.items() if r["voxels"] != "0"}, abs=0.003)


def test_stats_threshold_is_an_option(segmented, tmp_path):
    common = [str(segmented / "result.seg.nrrd"), "--confidence", str(segmented / "result.confidence.nii.gz")]
    assert main(["stats", *common, "--uncertain-below", "0.5", "-o", str(tmp_path / "half.csv")]) == 0
    assert main(["stats", *common, "--uncertain-below", "0.95", "-o", str(tmp_path / "sure.csv")]) == 0
    half, sure = read_rows(tmp_path / "half.csv")["body"], read_rows(tmp_path / "sure.csv")["body"]
    assert float(sure["uncertain_ml"]) > float(half["uncertain_ml"])


def test_stats_json_names_the_confidence_map(segmented, tmp_path):
    confidence = segmented / "result.confidence.nii.gz"
    assert main(["stats", str(segmented / "result.seg.nrrd"), "--confidence", str(confidence),
                 "-o", str(tmp_path / "s.json")]) == 0
    document = json.loads((tmp_path / "s.json").read_text())
    assert (document["confidence"], set(CONFIDENCE_FIELDS) <= set(document["nodes"][0])) == (
        str(segmented / "result.confidence.nii.gz"), True)


def test_stats_without_a_confidence_map_keep_their_columns(segmented, tmp_path):
    assert main(["stats", str(segmented / "result.seg.nrrd"), "-o", str(tmp_path / "s.csv")]) == 0
    with open(tmp_path / "s.csv", newline="") as handle:
        assert tuple(next(csv.reader(handle))) == COLUMNS


def test_a_confidence_map_elsewhere_in_space_is_refused(segmented, tmp_path, capsys):
    moved = sitk.ReadImage(str(segmented / "result.confidence.nii.gz"))
    moved.SetOrigin((5000.0, 0.0, 0.0))
    sitk.WriteImage(moved, str(tmp_path / "moved.nii.gz"))
    assert main(["stats", str(segmented / "result.seg.nrrd"), "--confidence", str(tmp_path / "moved.nii.gz"),
                 "-o", str(tmp_path / "s.csv")]) == 1
    assert "do not overlap in space" in capsys.readouterr().err


def test_batch_table_has_the_columns_when_a_case_has_them(tmp_path):
    with_confidence = NodeStatistics("body", "Body", 1, False, 10, 1.0, None, 0.8, 0.25)
    without = NodeStatistics("body", "Body", 1, False, 12, 1.2)
    write_statistics_table(tmp_path, [("a", with_confidence), ("b", without)])
    read = read_statistics(tmp_path)
    assert (read["a"][0], read["b"][0]) == (with_confidence, without)


def test_batch_writes_each_cases_maps_and_redoes_a_case_whose_map_is_missing(shared_data, probability_model,
                                                                             tmp_path):
    pytest.importorskip("distributed")
    from saltseg.batch import run_batch

    for name in ("a", "b"):
        (tmp_path / "in").mkdir(exist_ok=True)
        shutil.copyfile(shared_data / "example_ct_sm.nii.gz", tmp_path / "in" / f"{name}.nii.gz")
    outdir = tmp_path / "out"
    fields = dict(model=probability_model, device="cpu", workers=1, progress=False, probabilities=["fat"],
                  confidence=True, options=SegmentOptions(backend="torch", precision="fp32"))
    run_batch([tmp_path / "in"], outdir, **fields)
    (outdir / "a.prob.body-fat.nii.gz").unlink()
    records = run_batch([tmp_path / "in"], outdir, **fields)
    table = read_rows_by_case(outdir / "statistics.csv")
    assert ({r.case: r.status for r in records}, sorted(p.name for p in outdir.glob("*.nii.gz")),
            all(row["mean_probability"] for row in table["a"] if row["voxels"] != "0")) == (
        {"a": "done", "b": "skipped"},
        ["a.confidence.nii.gz", "a.prob.body-fat.nii.gz", "b.confidence.nii.gz", "b.prob.body-fat.nii.gz"], True)


def read_rows_by_case(path: Path) -> dict[str, list[dict[str, str]]]:
    by_case: dict[str, list[dict[str, str]]] = {}
    with open(path, newline="") as handle:
        for row in csv.DictReader(handle):
            by_case.setdefault(row["case"], []).append(row)
    return by_case


def test_batch_refuses_an_unknown_node_before_making_its_folder(shared_data, probability_model, tmp_path):
    pytest.importorskip("distributed")
    from saltseg.batch import run_batch
    from saltseg.errors import OutputError

    shutil.copyfile(shared_data / "example_ct_sm.nii.gz", tmp_path / "a.nii.gz")
    with pytest.raises(OutputError, match="did you mean 'body,fat'"):
        run_batch([tmp_path / "a.nii.gz"], tmp_path / "out", model=probability_model, device="cpu",
                  probabilities=["body,fatt"], progress=False)
    assert not (tmp_path / "out").exists()
