"""*Export table* and *Save CSV…* go through the module's controller (Qt-free): the statistics of the
shown segmentation become a table node the view shows, and a mistake is said, never lost in a slot
(real MRML, the module's real Logic, a recording view)."""
from __future__ import annotations

import csv

import pytest

from slicer_test_support import published_tree  # noqa: F401  (path set-up first)
from controller_support import controller_on_a_result  # noqa: E402


@pytest.fixture
def exported(published_tree, tmp_path):
    scene, segmentation, view, ctl = controller_on_a_result(published_tree)
    table = ctl.on_export_statistics(segmentation, str(tmp_path / "stats.csv"))
    return scene, view, ctl, table, tmp_path / "stats.csv"


def test_the_view_shows_the_table_node(exported):
    _, view, _, table, _ = exported
    assert view.tables == [table]


def test_the_table_has_a_row_per_structure_node(exported, published_tree):
    _, _, _, table, _ = exported
    structures = [node for node in range(len(published_tree)) if node != published_tree.background_leaf]
    assert table.GetTable().GetNumberOfRows() == len(structures)


def test_the_csv_holds_the_same_rows(exported):
    _, _, _, table, path = exported
    with open(path, newline="") as handle:
        assert len(list(csv.DictReader(handle))) == table.GetTable().GetNumberOfRows()


def test_the_status_names_the_table_and_the_file(exported):
    _, view, _, table, path = exported
    assert view.status == f"Statistics of {table.GetTable().GetNumberOfRows()} tree nodes in the table " \
                          f"'{table.GetName()}', and in {path}."


def test_without_a_segmentation_it_says_what_to_choose(exported):
    _, view, ctl, _, _ = exported
    assert ctl.on_export_statistics(None) is None
    assert view.errors[-1] == "Choose a SALT segmentation first."


def test_a_segmentation_without_a_tree_is_refused_by_name(exported):
    scene, view, ctl, _, _ = exported
    assert ctl.on_export_statistics(scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "plain")) is None
    assert view.errors[-1].startswith("Could not compute the statistics: ")
