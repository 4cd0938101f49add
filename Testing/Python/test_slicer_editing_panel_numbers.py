"""Correcting a SALT result in the Segment Editor: after each burst of strokes the Structures panel
shows exact volumes and mean HUs for every node — also of the segments a stroke overwrote, which
Slicer does not report — by counting again only the slices the strokes changed; and the panel,
*Export table* and ``logic.statistics`` agree with a numpy computation after a paint and after a
merge. Real MRML; strokes made as the Segment Editor's Paint effect makes them."""
from __future__ import annotations

import numpy as np
import pytest

from editing_support import (LIVER, SPLEEN, assert_numbers_match, editing_scene, expected_numbers, fire, paint,
                             panel_numbers, panel_sync)
from slicer_test_support import published_tree, require_shared_data  # noqa: F401

from SALTSegmentationLib.scene.logic_core import SegmentationLogicCore
from SALTSegmentationLib.scene.subtrees import merge_subtree

KIDNEYS = ("body", "abdominal_cavity", "kidneys")


def voxel_ml(editing) -> float:
    return float(np.prod(editing.volume.GetSpacing())) / 1000.0


def a_voxel_of(editing, path, near_k: int):
    """A voxel of the structure at ``path`` in the slice nearest ``near_k`` that holds it."""
    value = editing.tree.label_value(editing.tree.index(path))
    voxels = np.argwhere(editing.labels == value)
    return tuple(int(v) for v in voxels[np.argmin(np.abs(voxels[:, 0] - near_k))])


def test_a_paint_burst_on_512x512x300_counts_only_the_changed_slices_and_gives_exact_numbers(published_tree):
    require_shared_data()
    editing = editing_scene(published_tree, (300, 512, 512))
    sync, drawing, timer = panel_sync()
    sync.enter()
    sync.set_segmentation(editing.segmentation)
    assert drawing.models[-1] is not None and drawing.errors == []
    touched = set()
    # The spleen painted over liver voxels (the liver shrinks: Slicer reports the spleen only) and
    # grown into the background.
    for center in (a_voxel_of(editing, LIVER, 140), a_voxel_of(editing, LIVER, 150), (170, 300, 330)):
        touched |= set(np.flatnonzero(paint(editing, SPLEEN, center, 6).any(axis=(1, 2))))
    assert timer.running  # the burst is pending; nothing was measured inside the events
    fire(timer, sync)
    assert 0 < sync.measurements.recounted <= len(touched)  # not the 300 slices of the CT
    assert_numbers_match(panel_numbers(sync.model), expected_numbers(editing, voxel_ml(editing)))
    liver, spleen = sync.model.tree.index(LIVER), sync.model.tree.index(SPLEEN)
    assert {liver, spleen} <= drawing.numbers[-1]  # both rows redrawn


@pytest.fixture()
def edited(published_tree):
    require_shared_data()
    editing = editing_scene(published_tree)
    sync, drawing, timer = panel_sync()
    sync.enter()
    sync.set_segmentation(editing.segmentation)
    for k in (12, 18):  # over liver voxels: the liver shrinks, and Slicer reports the spleen only
        paint(editing, SPLEEN, a_voxel_of(editing, LIVER, k), 3)
    fire(timer, sync)
    return editing, sync, timer


def table_rows(table_node) -> dict[str, tuple[int, float, float]]:
    table = table_node.GetTable()
    column = {table.GetColumn(c).GetName(): table.GetColumn(c) for c in range(table.GetNumberOfColumns())}
    return {column["node"].GetValue(r): (int(column["voxels"].GetValue(r)), column["volume_ml"].GetValue(r),
                                         column["mean_hu"].GetValue(r))
            for r in range(table.GetNumberOfRows())}


def assert_everywhere_as_numpy(editing, sync, expected) -> None:
    assert_numbers_match(panel_numbers(sync.model), expected)
    logic = SegmentationLogicCore()
    rows = {row.node: row for row in logic.statistics(editing.segmentation, editing.volume)}
    table = table_rows(logic.exportStatisticsTable(editing.segmentation, editing.volume))
    for node, (voxels, volume, mean_hu) in expected.items():
        assert rows[node].voxels == voxels, node
        assert rows[node].mean_hu == pytest.approx(mean_hu, rel=1e-12), node
        assert table[node][:2] == (voxels, pytest.approx(volume, rel=1e-12)), node
        assert table[node][2] == pytest.approx(mean_hu, rel=1e-12), node


def test_panel_table_and_statistics_agree_with_numpy_after_a_paint(edited):
    editing, sync, _ = edited
    assert_everywhere_as_numpy(editing, sync, expected_numbers(editing, voxel_ml(editing)))


def test_panel_table_and_statistics_agree_with_numpy_after_a_merge(edited):
    editing, sync, timer = edited
    merge_subtree(editing.segmentation, KIDNEYS)
    fire(timer, sync)  # the segments added and removed: one rebuild
    expected = {node: numbers for node, numbers in expected_numbers(editing, voxel_ml(editing)).items()
                if not node.startswith(",".join(KIDNEYS) + ",")}  # the kidneys are one segment now
    assert ",".join(KIDNEYS) in expected
    assert_everywhere_as_numpy(editing, sync, expected)


def test_a_layer_read_as_a_clipped_view_counts_again_only_the_slice_a_stroke_changed():
    from SALTSegmentationLib.scene.layer_tally import LayerTally

    layer = np.zeros((10, 20, 24), dtype=np.uint8)
    layer[:, 5:15, 5:15] = 3
    tally = LayerTally()
    tally.update(layer[:, 2:18, 1:23], (0, 0, 0), None)  # the part on the CT's grid: a view, not contiguous
    layer[4, 8, 8] = 7
    assert tally.update(layer[:, 2:18, 1:23], (0, 0, 0), None) == 1
