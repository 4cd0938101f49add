"""Statistics of a segmentation node in real MRML (slicer-core): every tree node against numpy on
the shared CT, merged subtrees, the vtkMRMLTableNode (saved with the scene and read back), CSV,
the console ``logic.statistics``, mean HU in the Structures panel model, and the console's
``segment(structures=...)`` through the real engine process."""
from __future__ import annotations

import csv
import math

import numpy as np
import pytest
import SimpleITK as sitk
import slicer

from slicer_test_support import (install_scripted_module_shim, load_ct, new_scene, published_tree,  # noqa: F401
                                 reference_result, threshold_model_dir)

from SALTSegmentationLib.scene.importer import import_result
from SALTSegmentationLib.scene.statistics_table import (ATTRIBUTE_SOURCE, segmentation_statistics,
                                                        statistics_table_node, write_statistics_csv)
from SALTSegmentationLib.scene.subtrees import merge_subtree, tree_panel_model
from saltseg.analysis.statistics import COLUMNS, labelmap_statistics

LUMBAR = "body,bones,spine,lumbar_spine"


@pytest.fixture()
def imported(published_tree):
    scene = new_scene()
    volume = load_ct(scene)
    result = reference_result(published_tree)
    segmentation = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "CT segmentation")
    segmentation.CreateDefaultDisplayNodes()
    import_result(result, segmentation, volume)
    return scene, volume, segmentation, result


def _ct_and_labels(result):
    from slicer_test_support import CT_PATH

    ct = sitk.GetArrayFromImage(sitk.ReadImage(str(CT_PATH)))
    return ct, sitk.GetArrayFromImage(result.labelmap)


def test_statistics_of_every_node_match_numpy_on_the_ct(imported, published_tree):
    scene, volume, segmentation, result = imported
    rows = {row.node: row for row in segmentation_statistics(segmentation, volume)}
    ct, labels = _ct_and_labels(result)
    checked = 0
    for node in ("body,bones,spine", LUMBAR, "body,abdominal_cavity,kidneys", "body,abdominal_cavity,liver",
                 "body", "body,bones,rib_cage"):
        mask = np.isin(labels, published_tree.subtree_label_values(node))
        assert rows[node].voxels == int(mask.sum()) > 0, node
        values = ct[mask].astype(np.float64)
        assert rows[node].mean_hu == pytest.approx(values.mean(), rel=1e-9)
        assert rows[node].intensity.median == pytest.approx(np.median(values))
        assert rows[node].intensity.p95 == pytest.approx(np.percentile(values, 95))
        checked += 1
    # The same numbers the engine gives for the labelmap file (one implementation, two front ends).
    engine = {row.node: row for row in labelmap_statistics(result.labelmap, sitk.ReadImage(
        volume.GetStorageNode().GetFileName()), published_tree)}
    assert {n: r.voxels for n, r in rows.items()} == {n: r.voxels for n, r in engine.items()}
    assert checked == 6


def test_a_merged_subtree_counts_at_its_node_and_its_ancestors(imported, published_tree):
    scene, volume, segmentation, result = imported
    before = {row.node: row for row in segmentation_statistics(segmentation, volume)}
    merge_subtree(segmentation, LUMBAR)
    after = {row.node: row for row in segmentation_statistics(segmentation, volume)}
    assert after[LUMBAR].voxels == before[LUMBAR].voxels > 0
    assert after["body,bones,spine"].mean_hu == pytest.approx(before["body,bones,spine"].mean_hu)
    assert after[LUMBAR + ",vertebrae_L1"].voxels == 0  # its own segment is gone


def test_table_node_is_real_mrml_saved_with_the_scene(imported, tmp_path):
    scene, volume, segmentation, result = imported
    rows = segmentation_statistics(segmentation, volume)
    table_node = statistics_table_node(rows, scene, "CT statistics", source=segmentation)
    table = table_node.GetTable()
    assert table.GetNumberOfRows() == len(rows) and table.GetNumberOfColumns() == len(COLUMNS)
    assert table_node.GetAttribute(ATTRIBUTE_SOURCE) == segmentation.GetID()
    liver = next(i for i, row in enumerate(rows) if row.node == "body,abdominal_cavity,liver")
    assert table.GetValueByName(liver, "name").ToString() == "Liver"
    assert table.GetValueByName(liver, "mean_hu").ToDouble() == pytest.approx(rows[liver].mean_hu)
    assert table_node.GetColumnUnitLabel("mean_hu") == "HU"
    empty = next(i for i, row in enumerate(rows) if row.voxels == 0)
    assert math.isnan(table.GetValueByName(empty, "mean_hu").ToDouble())

    # Saved with the scene (the table's storage node writes a file) and read back.
    table_node.AddDefaultStorageNode()
    storage = table_node.GetStorageNode()
    storage.SetFileName(str(tmp_path / "statistics.tsv"))
    assert storage.WriteData(table_node)
    scene.SetURL(str(tmp_path / "scene.mrml"))
    scene.Commit()
    reloaded = slicer.vtkMRMLScene()
    reloaded.SetURL(str(tmp_path / "scene.mrml"))
    reloaded.Connect()
    node = reloaded.GetFirstNodeByName("CT statistics")
    assert node is not None and node.IsA("vtkMRMLTableNode")
    assert node.GetTable().GetNumberOfRows() == len(rows)
    assert node.GetTable().GetValueByName(liver, "node").ToString() == "body,abdominal_cavity,liver"

    write_statistics_csv(rows, tmp_path / "stats.csv")
    with open(tmp_path / "stats.csv", newline="") as handle:
        read = list(csv.DictReader(handle))
    assert read[liver]["node"] == "body,abdominal_cavity,liver" and float(read[liver]["mean_hu"]) == pytest.approx(
        rows[liver].mean_hu, abs=0.006)


def test_console_statistics_and_mean_hu_in_the_structures_panel(imported):
    install_scripted_module_shim()
    import SALTSegmentation

    scene, volume, segmentation, result = imported
    logic = SALTSegmentation.SALTSegmentationLogic()
    rows = logic.statistics(segmentation, volume)
    by_node = {row.node: row for row in rows}
    table_node = logic.exportStatisticsTable(segmentation, volume)
    assert table_node.GetScene() is scene and table_node.GetTable().GetNumberOfRows() == len(rows)
    again = logic.exportStatisticsTable(segmentation, volume)
    assert again is table_node  # updated in place, not one more table per click

    model = tree_panel_model(segmentation, volume)
    spine = model.tree.index("body,bones,spine")
    assert model.mean_hu(spine) == pytest.approx(by_node["body,bones,spine"].mean_hu)
    assert tree_panel_model(segmentation).mean_hu(spine) is None  # no CT chosen: no intensities
    with pytest.raises(ValueError, match="no SALT label tree"):
        logic.statistics(scene.AddNewNodeByClass("vtkMRMLSegmentationNode"), volume)


def test_console_segment_with_a_structure_subset_imports_only_those_segments(threshold_model_dir):
    install_scripted_module_shim()
    import SALTSegmentation

    scene = new_scene()
    volume = load_ct(scene)
    logic = SALTSegmentation.SALTSegmentationLogic()
    try:
        node = logic.segment(volume, model=str(threshold_model_dir), device="cpu", structures=["bones"])
        segmentation = node.GetSegmentation()
        ids = [segmentation.GetNthSegmentID(i) for i in range(segmentation.GetNumberOfSegments())]
        assert ids == ["body,bones,other"]  # the threshold model's fat and muscle are left out
        rows = {row.node: row for row in logic.statistics(node)}  # the CT it was made on
        assert rows["body,bones"].voxels > 0 and rows["body,muscles"].voxels == 0
        with pytest.raises(Exception, match="did you mean 'Kidneys'"):
            logic.segment(volume, model=str(threshold_model_dir), device="cpu", structures=["kidnyes"])
    finally:
        logic.shutdownEngine()
