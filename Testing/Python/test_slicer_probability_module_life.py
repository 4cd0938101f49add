"""The heat map and the module's life (the module file's own widget methods, real MRML and Slicer's
VTKObservationMixin; Qt widgets replaced as in ``module_widget_support``): leaving the module gives
the slice views back, entering it again shows the selected structure's heat map again, and closing
the scene leaves the views as they were."""
from __future__ import annotations

import pytest

from module_widget_support import assembled_widget
from slicer_test_support import install_scripted_module_shim, published_tree  # noqa: F401
from slicer_probability_support import KIDNEYS, add_slice_views, scene_with_maps

install_scripted_module_shim()


@pytest.fixture
def widget(monkeypatch, tmp_path, published_tree):
    import SALTSegmentation

    maps = scene_with_maps(tmp_path, published_tree)
    maps.views = add_slice_views(maps.scene)
    widget, _, _, _ = assembled_widget(monkeypatch, maps.scene, SALTSegmentation.SALTSegmentationLogic())
    widget.controller.probability_actions.on_node_selected(maps.segmentation, KIDNEYS)  # a click in the panel
    return widget, maps


def foreground_ids(maps) -> set:
    return {view.GetForegroundVolumeID() for view in maps.views}


def test_leaving_the_module_gives_the_views_back(widget):
    module_widget, maps = widget
    module_widget.exit()
    assert foreground_ids(maps) == {None}


def test_entering_again_shows_the_selected_structure_again(widget):
    module_widget, maps = widget
    module_widget.exit()
    module_widget.enter()
    assert foreground_ids(maps) == {module_widget.logic.probabilityOverlay.volume.GetID()}


def test_closing_the_scene_gives_the_views_back(widget):
    module_widget, maps = widget
    module_widget.onSceneStartClose()
    assert foreground_ids(maps) == {None}
