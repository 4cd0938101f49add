"""Statistics per tree node, checked against numpy's masked statistics on the shared real CT and
its TotalSegmentator reference segmentation (names mapped onto the published SALT tree)."""
from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import SimpleITK as sitk

from saltseg.analysis.label_names import map_names, read_name_table
from saltseg.analysis.statistics import (COLUMNS, NodeStatistics, labelmap_statistics, tree_statistics)
from saltseg.analysis.tables import write_statistics
from saltseg.cli import main
from saltseg.errors import InputImageError, OutputError
from saltseg.io.writers import write_labelmap, write_seg_nrrd


@pytest.fixture(scope="module")
def reference(shared_data, salt_tree):
    """The real CT, TotalSegmentator's labels, and their values → nodes of the published tree."""
    ct = sitk.ReadImage(str(shared_data / "example_ct_sm.nii.gz"))
    seg = sitk.ReadImage(str(shared_data / "example_seg.nii.gz"))
    names = read_name_table(shared_data / "example_seg_labels.json")
    mapping = map_names(salt_tree, names)
    return ct, seg, names, mapping


def _numpy_stats(values: np.ndarray) -> list[float]:
    values = values.astype(np.float64)
    return [values.mean(), values.std(), np.median(values), values.min(), values.max(),
            np.percentile(values, 5), np.percentile(values, 95)]


def _ours(row: NodeStatistics) -> list[float]:
    s = row.intensity
    return [s.mean, s.std, s.median, s.minimum, s.maximum, s.p5, s.p95]


def test_every_node_matches_numpy_masked_statistics_on_the_real_ct(reference, salt_tree):
    ct, seg, names, mapping = reference
    rows = labelmap_statistics(seg, ct, salt_tree, label_nodes=mapping.label_nodes)
    assert len(rows) == len(salt_tree) - 1  # every node but the background leaf
    ct_array = sitk.GetArrayFromImage(ct)
    seg_array = sitk.GetArrayFromImage(seg)
    voxel_ml = float(np.prod(ct.GetSpacing())) / 1000.0
    checked_internal = 0
    for row in rows:
        # Independently: the TotalSegmentator values whose name is a node of this subtree.
        subtree_names = {salt_tree.path(n)[-1] for n in salt_tree.subtree(row.node)}
        values = [v for v, name in names.items() if name in subtree_names]
        mask = np.isin(seg_array, values)
        assert row.voxels == int(mask.sum()), row.node
        assert row.volume_ml == pytest.approx(mask.sum() * voxel_ml)
        if not mask.any():
            assert row.intensity is None
            continue
        np.testing.assert_allclose(_ours(row), _numpy_stats(ct_array[mask]), rtol=1e-9, atol=1e-9,
                                   err_msg=row.node)
        checked_internal += not row.leaf
    assert checked_internal >= 10  # spine, ribs, lungs, abdominal cavity, body... are unions


def test_internal_node_is_the_union_not_an_average_of_children(reference, salt_tree):
    ct, seg, names, mapping = reference
    by_node = {r.node: r for r in labelmap_statistics(seg, ct, salt_tree, label_nodes=mapping.label_nodes)}
    kidneys = by_node["body,abdominal_cavity,kidneys"]
    left = by_node["body,abdominal_cavity,kidneys,kidney_left"]
    right = by_node["body,abdominal_cavity,kidneys,kidney_right"]
    assert kidneys.voxels == left.voxels + right.voxels > 0
    weighted = (left.mean_hu * left.voxels + right.mean_hu * right.voxels) / kidneys.voxels
    assert kidneys.mean_hu == pytest.approx(weighted)
    assert kidneys.intensity.minimum == min(left.intensity.minimum, right.intensity.minimum)
    ct_array, seg_array = sitk.GetArrayFromImage(ct), sitk.GetArrayFromImage(seg)
    union = ct_array[np.isin(seg_array, [2, 3])]
    assert kidneys.intensity.median == np.median(union)


def test_non_integer_intensities_take_the_sorting_path_and_agree(reference, salt_tree):
    ct, seg, names, mapping = reference
    scaled = sitk.GetArrayFromImage(ct).astype(np.float64) * 0.37 + 0.123  # not integers any more
    seg_array = sitk.GetArrayFromImage(seg)
    rows = tree_statistics(seg_array, scaled, salt_tree, mapping.label_nodes, 0.027)
    liver = next(r for r in rows if r.node == "body,abdominal_cavity,liver")
    np.testing.assert_allclose(_ours(liver), _numpy_stats(scaled[seg_array == 5]), rtol=1e-9)
    spine = next(r for r in rows if r.node == "body,bones,spine")
    vertebrae = [v for v, n in names.items() if n.startswith("vertebrae_")]
    np.testing.assert_allclose(_ours(spine), _numpy_stats(scaled[np.isin(seg_array, vertebrae)]), rtol=1e-9)


def test_volumes_only_without_a_ct(reference, salt_tree):
    ct, seg, names, mapping = reference
    rows = labelmap_statistics(seg, None, salt_tree, label_nodes=mapping.label_nodes)
    liver = next(r for r in rows if r.node == "body,abdominal_cavity,liver")
    assert liver.voxels == int((sitk.GetArrayFromImage(seg) == 5).sum())
    assert liver.intensity is None and liver.to_row()["mean_hu"] == ""


def test_segmentation_on_another_grid_is_measured_on_the_ct_grid(small_tree):
    ct = sitk.GetImageFromArray(np.arange(4 * 6 * 8, dtype=np.int16).reshape(4, 6, 8))
    ct.SetSpacing((1.0, 1.0, 2.0))
    labels = np.zeros((4, 6, 8), np.uint8)
    labels[1:3, 2:4, 2:6] = small_tree.label_value("body,bone")
    labelmap = sitk.GetImageFromArray(labels)
    labelmap.CopyInformation(ct)
    cropped = labelmap[1:7, 1:5, 1:3]  # what Slicer stores: the segment's extent only
    rows = {r.node: r for r in labelmap_statistics(cropped, ct, small_tree)}
    assert rows["body,bone"].voxels == 16
    assert rows["body,bone"].intensity.mean == pytest.approx(sitk.GetArrayFromImage(ct)[labels > 0].mean())


def test_bad_inputs_are_refused(salt_tree, tmp_path):
    with pytest.raises(InputImageError, match="integer labels"):
        tree_statistics(np.zeros((2, 2, 2), np.float32), None, salt_tree, {}, 1.0)
    with pytest.raises(InputImageError, match="share one grid"):
        tree_statistics(np.zeros((2, 2, 2), np.uint8), np.zeros((2, 2, 3), np.int16), salt_tree, {}, 1.0)
    with pytest.raises(OutputError, match=r"\.csv or \.json"):
        write_statistics([], tmp_path / "stats.xlsx")
    assert not list(tmp_path.iterdir())


def test_csv_and_json_tables_round_trip(reference, salt_tree, tmp_path):
    ct, seg, names, mapping = reference
    rows = labelmap_statistics(seg, ct, salt_tree, label_nodes=mapping.label_nodes)
    write_statistics(rows, tmp_path / "s.csv")
    with open(tmp_path / "s.csv", newline="") as handle:
        read = list(csv.DictReader(handle))
    assert tuple(read[0]) == COLUMNS and len(read) == len(rows)
    again = NodeStatistics.from_row(read[[r.node for r in rows].index("body,abdominal_cavity,liver")])
    liver = next(r for r in rows if r.node == "body,abdominal_cavity,liver")
    assert again.voxels == liver.voxels and again.mean_hu == pytest.approx(liver.mean_hu, abs=0.01)
    write_statistics(rows, tmp_path / "s.json", ct="ct.nii.gz")
    document = json.loads((tmp_path / "s.json").read_text())
    assert document["ct"] == "ct.nii.gz" and document["nodes"][0]["node"] == rows[0].node


def _salt_labelmap(seg: sitk.Image, mapping, tree) -> sitk.Image:
    """TotalSegmentator's labels rewritten as SALT's leaf values (what `saltseg segment` writes)."""
    array = sitk.GetArrayFromImage(seg)
    out = np.zeros(array.shape, np.uint8)
    for value, node in mapping.label_nodes.items():
        if tree.is_leaf(node):
            out[array == value] = tree.label_value(node)
    image = sitk.GetImageFromArray(out)
    image.CopyInformation(seg)
    return image


@pytest.mark.parametrize("suffix", [".seg.nrrd", ".nii.gz"])
def test_stats_command_on_an_existing_result(reference, salt_tree, shared_data, tmp_path, suffix):
    ct, seg, names, mapping = reference
    labelmap = _salt_labelmap(seg, mapping, salt_tree)
    result = tmp_path / f"case{suffix}"
    if suffix == ".seg.nrrd":
        write_seg_nrrd(labelmap, result, salt_tree)
    else:
        write_labelmap(labelmap, result, salt_tree)
    out = tmp_path / "stats.csv"
    assert main(["stats", str(result), "--ct", str(shared_data / "example_ct_sm.nii.gz"), "-o", str(out)]) == 0
    with open(out, newline="") as handle:
        rows = {row["node"]: row for row in csv.DictReader(handle)}
    expected = {r.node: r for r in labelmap_statistics(labelmap, ct, salt_tree)}
    for node in ("body,bones,spine", "body,thoracic_cavity,lungs", "body,abdominal_cavity,liver"):
        assert int(rows[node]["voxels"]) == expected[node].voxels > 0
        assert float(rows[node]["median_hu"]) == pytest.approx(expected[node].intensity.median, abs=0.005)
    # --only lists the chosen subtree only.
    assert main(["stats", str(result), "-o", str(out), "--only", "spine"]) == 0
    with open(out, newline="") as handle:
        nodes = [row["node"] for row in csv.DictReader(handle)]
    assert nodes[0] == "body,bones,spine" and all(n.startswith("body,bones,spine") for n in nodes)
