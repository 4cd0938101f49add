"""The module's widgets and its parameter node (real MRML scene and node): what the user set in
the widgets is what the scene keeps, comes back into the widgets, and is what Segment runs with.
The widgets are stand-ins with the properties and slots of Slicer's (the wheel has no Qt)."""
from __future__ import annotations

import types

import slicer_test_support
from SALTSegmentationLib.scene import parameters
from SALTSegmentationLib.widgets.parameter_fields import (WATCHED_SIGNALS, run_settings, show_parameters,
                                                          write_parameters)

UI_FILE = slicer_test_support.MODULE_DIR / "Resources" / "UI" / "SALTSegmentation.ui"


class NodeSelector:
    def __init__(self) -> None:
        self.node = None

    def setCurrentNode(self, node) -> None:  # noqa: N802 - Qt's API
        self.node = node

    def currentNode(self):  # noqa: N802 - Qt's API
        return self.node

    @property
    def currentNodeID(self):  # noqa: N802 - Qt's API
        return self.node.GetID() if self.node is not None else None


class Combo:
    def __init__(self, items) -> None:
        self.items, self.index = list(items), 0

    def findData(self, value) -> int:  # noqa: N802 - Qt's API
        return self.items.index(value) if value in self.items else -1

    def setCurrentIndex(self, index) -> None:  # noqa: N802 - Qt's API
        self.index = index

    @property
    def currentData(self):  # noqa: N802 - Qt's API
        return self.items[self.index]


class MapsChoice:
    def __init__(self) -> None:
        self.on, self.names = False, []

    def state(self):
        return self.on, list(self.names)

    def set_state(self, on, names) -> None:
        self.on, self.names = on, list(names)


def widgets():
    return types.SimpleNamespace(
        inputVolumeSelector=NodeSelector(), outputSegmentationSelector=NodeSelector(),
        modelComboBox=Combo(["salt-demo", "salt-full"]), deviceComboBox=Combo(["auto", "cpu", "cuda:0"]),
        overlapSpinBox=types.SimpleNamespace(value=0.5), batchSizeSpinBox=types.SimpleNamespace(value=2),
        largestComponentCheckBox=types.SimpleNamespace(checked=True))


def chosen(scene):
    ui, maps = widgets(), MapsChoice()
    ui.inputVolumeSelector.setCurrentNode(scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "CT"))
    ui.outputSegmentationSelector.setCurrentNode(scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "CT seg"))
    ui.deviceComboBox.setCurrentIndex(1)
    ui.overlapSpinBox.value, ui.batchSizeSpinBox.value, ui.largestComponentCheckBox.checked = 0.25, 4, False
    maps.set_state(True, ["body,bones,spine"])
    return ui, maps


def parameter_node(scene):
    node = scene.AddNewNodeByClass("vtkMRMLScriptedModuleNode", "SALTSegmentation")
    parameters.set_default_parameters(node)
    return node


def test_the_widgets_choices_come_back_into_fresh_widgets_from_the_parameter_node():
    scene = slicer_test_support.new_scene()
    ui, maps = chosen(scene)
    node = parameter_node(scene)
    write_parameters(node, ui, "salt-full", maps)
    shown, shown_maps = widgets(), MapsChoice()
    show_parameters(shown, node, shown_maps)
    assert (shown.inputVolumeSelector.currentNode().GetName(), shown.outputSegmentationSelector.currentNode().GetName(),
            shown.modelComboBox.currentData, shown.deviceComboBox.currentData, shown.overlapSpinBox.value,
            shown.batchSizeSpinBox.value, shown.largestComponentCheckBox.checked, shown_maps.state()) == \
        ("CT", "CT seg", "salt-full", "cpu", 0.25, 4, False, (True, ["body,bones,spine"]))


def test_writing_the_widgets_is_one_modification_of_the_parameter_node():
    scene = slicer_test_support.new_scene()
    ui, maps = chosen(scene)
    node = parameter_node(scene)
    modified = []
    node.AddObserver("ModifiedEvent", lambda caller, event: modified.append(event))
    write_parameters(node, ui, "salt-full", maps)
    assert len(modified) == 1


def test_segment_runs_with_what_the_widgets_and_the_parameter_node_say():
    scene = slicer_test_support.new_scene()
    ui, maps = chosen(scene)
    node = parameter_node(scene)
    write_parameters(node, ui, "salt-full", maps)
    settings = run_settings(ui, node, "salt-full", ["spine"])
    assert (settings.volume.GetName(), settings.model, settings.device, settings.options, settings.structures,
            settings.probability_maps) == \
        ("CT", "salt-full", "cpu", {"overlap": 0.25, "batch_size": 4, "largest_component": False}, ["spine"],
         {"confidence": True, "probabilities": ["body,bones,spine"]})


def test_without_a_parameter_node_segment_runs_with_the_engines_defaults():
    scene = slicer_test_support.new_scene()
    ui, _ = chosen(scene)
    settings = run_settings(ui, None, None, None)
    assert (settings.options, settings.probability_maps, settings.device) == ({}, {}, "cpu")


def test_every_watched_widget_and_signal_is_in_the_modules_ui_file():
    ui_text = UI_FILE.read_text(encoding="utf-8")
    missing = [name for name, _ in WATCHED_SIGNALS if f'name="{name}"' not in ui_text]
    assert missing == []

