"""The Structures panel's *Sure %* (real MRML, the panel's Qt-free sync): each node's mean confidence
over its voxels equals numpy's; after a Segment Editor stroke it follows, counting only the slices
the stroke changed; without a confidence map there is no Sure % at all."""
from __future__ import annotations

import pytest

from editing_support import LIVER, SPLEEN, editing_scene, fire, paint, panel_sync
from slicer_test_support import published_tree  # noqa: F401
from slicer_probability_support import add_confidence, expected_sure


def shown_sure(model) -> dict[str, float]:
    return {model.node_id(n): model.sure_percent(n) for n in model.shown_nodes()}


@pytest.fixture
def panel(published_tree):
    editing = editing_scene(published_tree)
    confidence = add_confidence(editing)
    sync, drawing, timer = panel_sync()
    sync.enter()
    sync.set_segmentation(editing.segmentation)
    return editing, confidence, sync, drawing, timer


def test_sure_percent_is_the_mean_confidence_over_each_nodes_voxels(panel):
    editing, confidence, sync, _, _ = panel
    assert shown_sure(sync.model) == pytest.approx(expected_sure(editing.tree, editing.labels, confidence), rel=1e-9)


def test_sure_percent_follows_a_paint_stroke(panel):
    editing, confidence, sync, _, timer = panel
    paint(editing, SPLEEN, (15, 50, 60), 4)
    paint(editing, LIVER, (12, 40, 40), 3)
    fire(timer, sync)
    assert shown_sure(sync.model) == pytest.approx(expected_sure(editing.tree, editing.labels, confidence), rel=1e-9)


def test_a_stroke_counts_only_the_slices_it_changed(panel):
    editing, _, sync, _, timer = panel
    paint(editing, SPLEEN, (15, 50, 60), 2)
    fire(timer, sync)
    assert 0 < sync.sure.recounted <= 5  # a ball of radius 2 spans 5 slices of 30


def test_a_stroke_redraws_the_painted_nodes_sure_percent(panel):
    editing, _, sync, drawing, timer = panel
    paint(editing, SPLEEN, (15, 50, 60), 4)
    fire(timer, sync)
    assert editing.tree.index(SPLEEN) in drawing.numbers[-1]


def test_without_a_confidence_map_there_is_no_sure_percent(published_tree):
    editing = editing_scene(published_tree)
    sync, _, _ = panel_sync()
    sync.enter()
    sync.set_segmentation(editing.segmentation)
    assert not sync.model.has_sure
    assert sync.sure is None
