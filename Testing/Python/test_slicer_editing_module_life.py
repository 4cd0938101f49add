"""While the module is not shown, editing costs it nothing; entering it catches up; closing the
scene, reloading the module or leaving and re-entering it — during a paint burst or during a run —
leaves no observer, timer or process behind, and the parameter node is never unobserved twice.
Real MRML, the real engine process, Slicer's real VTKObservationMixin; the Qt timer and tree
widget are the recording stand-ins of ``editing_support``."""
from __future__ import annotations

import warnings

import pytest
import slicer

from editing_support import (LIVER, SPLEEN, assert_numbers_match, editing_scene, expected_numbers, fire, paint,
                             panel_numbers, panel_sync)
from module_widget_support import assembled_widget
from slicer_test_support import (install_scripted_module_shim, load_ct, new_scene, process_gone,  # noqa: F401
                                 published_tree, require_shared_data)

install_scripted_module_shim()

SOURCE_MODIFIED = slicer.vtkSegmentation.SourceRepresentationModified
DEMO = "salt-phantom-demo"  # bundled: a real run, long enough to act during it


def voxel_ml(editing) -> float:
    spacing = editing.volume.GetSpacing()
    return spacing[0] * spacing[1] * spacing[2] / 1000.0


@pytest.fixture()
def shown(published_tree):
    require_shared_data()
    editing = editing_scene(published_tree)
    sync, drawing, timer = panel_sync()
    sync.enter()
    sync.set_segmentation(editing.segmentation)
    return editing, sync, drawing, timer


def test_editing_while_the_module_is_not_shown_costs_nothing_and_entering_catches_up(shown):
    editing, sync, drawing, timer = shown
    sync.exit()
    assert not editing.segmentation.HasObserver(SOURCE_MODIFIED)
    measured = sync.measurements.recounted
    strokes = paint(editing, SPLEEN, (15, 50, 90), 3) | paint(editing, LIVER, (12, 55, 30), 3)  # Segment Editor
    assert timer.starts == 0 and sync.measurements.recounted == measured  # no work at all
    sync.enter()
    assert editing.segmentation.HasObserver(SOURCE_MODIFIED)
    assert_numbers_match(panel_numbers(sync.model), expected_numbers(editing, voxel_ml(editing)))
    assert sync.measurements.recounted <= strokes.any(axis=(1, 2)).sum()  # the strokes' slices only


def test_leaving_during_a_burst_drops_it_and_reentering_observes_once(shown):
    editing, sync, drawing, timer = shown
    paint(editing, SPLEEN, (15, 50, 90), 3)
    assert timer.running
    sync.exit()
    assert not timer.running
    sync.enter()
    sync.enter()  # entered twice (a reload while shown): still one observation
    starts = timer.starts
    paint(editing, SPLEEN, (16, 50, 90), 3)  # one stroke: one restart of the timer, not two
    assert timer.starts == starts + 1
    fire(timer, sync)
    assert_numbers_match(panel_numbers(sync.model), expected_numbers(editing, voxel_ml(editing)))


def test_closing_the_scene_during_a_burst_leaves_no_observer_timer_or_measurement(shown):
    editing, sync, drawing, timer = shown
    paint(editing, SPLEEN, (15, 50, 90), 3)
    assert timer.running
    sync.scene_closing()
    editing.scene.Clear(0)
    assert not timer.running and not sync.batcher.pending
    assert not editing.segmentation.HasObserver(SOURCE_MODIFIED)
    assert sync.measurements is None and sync.model is None and drawing.models[-1] is None


def test_the_parameter_node_is_observed_while_shown_and_never_unobserved_twice(monkeypatch, published_tree):
    import SALTSegmentation

    require_shared_data()
    scene = new_scene()
    widget, _, _, updates = assembled_widget(monkeypatch, scene, SALTSegmentation.SALTSegmentationLogic())
    with warnings.catch_warnings():
        # VTKObservationMixin warns "does not have observer" when an observer is removed twice.
        warnings.simplefilter("error")
        widget.enter()
        parameter_node = widget._parameterNode
        calls = updates.calls
        parameter_node.Modified()
        assert updates.calls == calls + 1  # observed while shown
        widget.exit()
        parameter_node.Modified()
        assert updates.calls == calls + 1  # not while another module is shown
        widget.enter()
        widget.exit()
        widget.onSceneStartClose()
        widget.enter()
        widget.cleanup()
    assert widget.Observations == []


def test_reloading_during_a_run_and_a_burst_leaves_no_process_observer_or_timer(monkeypatch, published_tree):
    import SALTSegmentation

    require_shared_data()
    editing = editing_scene(published_tree)
    logic = SALTSegmentation.SALTSegmentationLogic()
    widget, drawing, timer, _ = assembled_widget(monkeypatch, editing.scene, logic)
    widget.enter()
    widget.treePanel.set_segmentation(editing.segmentation)
    seen = {}

    def reload_now(stage: str, fraction: float) -> None:  # Reload pressed while the engine infers
        if stage == "inference" and not seen:
            seen["pid"] = logic.engine.engine_pid
            paint(editing, SPLEEN, (15, 50, 90), 3)  # and a burst is pending
            seen["pending"] = timer.running
            widget.cleanup()

    try:
        logic.segment(load_ct(editing.scene), model=DEMO, device="cpu", wait=False, progress=reload_now)
        assert logic.currentJob.wait(timeout=300) and seen["pending"]
        assert process_gone(seen["pid"], 2.0)
        assert not timer.running and not editing.segmentation.HasObserver(SOURCE_MODIFIED)
        assert widget.treePanel.measurements is None and widget.Observations == []
    finally:
        logic.shutdownEngine()


def test_a_run_finishing_while_the_module_is_not_shown_is_drawn_on_entering(monkeypatch, published_tree):
    import SALTSegmentation

    require_shared_data()
    scene = new_scene()
    volume = load_ct(scene)
    logic = SALTSegmentation.SALTSegmentationLogic()
    widget, drawing, timer, _ = assembled_widget(monkeypatch, scene, logic)
    widget.enter()
    try:
        output = logic.segment(volume, model=DEMO, device="cpu", wait=False)
        widget.treePanel.set_segmentation(output)  # the controller shows the run's output node
        widget.exit()
        drawn = len(drawing.models)
        assert logic.currentJob.wait(timeout=300) and logic.currentJob.error is None
        assert len(drawing.models) == drawn and timer.starts == 0  # imported while hidden: nothing done
        widget.enter()
        model = drawing.models[-1]
        assert model is not None and model.children(None)  # the result, drawn once on entering
        assert output.HasObserver(SOURCE_MODIFIED)
    finally:
        widget.cleanup()  # also ends the model-list process entering started
