"""Which of the module's widgets holds which entry of the parameter node (:mod:`..scene.parameters`):
the node's values shown in the widgets, the widgets' values written to the node, and a run's
settings read from both. The widget observes the node and calls these; Qt widgets are reached only
through their properties and slots, so nothing here imports Qt."""
from __future__ import annotations

from typing import Any, Callable, Optional

from ..scene import parameters
from .controller import RunSettings

#: The widgets whose every change is written to the parameter node (so it is saved with the scene).
WATCHED_SIGNALS = (("inputVolumeSelector", "currentNodeChanged(vtkMRMLNode*)"),
                   ("outputSegmentationSelector", "currentNodeChanged(vtkMRMLNode*)"),
                   ("modelComboBox", "currentIndexChanged(int)"),
                   ("deviceComboBox", "currentIndexChanged(int)"),
                   ("overlapSpinBox", "valueChanged(double)"),
                   ("batchSizeSpinBox", "valueChanged(int)"),
                   ("largestComponentCheckBox", "toggled(bool)"))


def watch_fields(ui: Any, on_changed: Callable[..., None]) -> None:
    for name, signal in WATCHED_SIGNALS:
        getattr(ui, name).connect(signal, on_changed)


def show_parameters(ui: Any, node: Any, probability_maps: Any) -> None:
    """Fill the widgets (and the *Probability maps* choice) from ``node``."""
    ui.inputVolumeSelector.setCurrentNode(node.GetNodeReference(parameters.INPUT_VOLUME))
    ui.outputSegmentationSelector.setCurrentNode(node.GetNodeReference(parameters.OUTPUT_SEGMENTATION))
    options = parameters.read_options(node)
    for combo, value in ((ui.modelComboBox, options["model"]), (ui.deviceComboBox, options["device"])):
        index = combo.findData(value) if value else -1
        if index >= 0:
            combo.setCurrentIndex(index)
    ui.overlapSpinBox.value = options["overlap"]
    ui.batchSizeSpinBox.value = options["batch_size"]
    ui.largestComponentCheckBox.checked = options["largest_component"]
    probability_maps.set_state(*parameters.read_probability_maps(node))


def write_parameters(node: Any, ui: Any, model: Optional[str], probability_maps: Any) -> None:
    """Write what the widgets show to ``node``, as one modification."""
    was_modified = node.StartModify()
    node.SetNodeReferenceID(parameters.INPUT_VOLUME, ui.inputVolumeSelector.currentNodeID)
    node.SetNodeReferenceID(parameters.OUTPUT_SEGMENTATION, ui.outputSegmentationSelector.currentNodeID)
    parameters.write_options(node, model, ui.deviceComboBox.currentData, overlap=ui.overlapSpinBox.value,
                             batch_size=ui.batchSizeSpinBox.value,
                             largest_component=ui.largestComponentCheckBox.checked)
    parameters.write_probability_maps(node, *probability_maps.state())
    node.EndModify(was_modified)


def run_settings(ui: Any, node: Any, model: Optional[str], structures: Optional[list]) -> RunSettings:
    """What Segment runs on and with: the selectors, the model and device, the options and the
    probability maps stored in ``node`` (None: no parameter node, the engine's defaults)."""
    options = parameters.segment_options(node) if node else {}
    maps = parameters.probability_request(node) if node else {}
    return RunSettings(ui.inputVolumeSelector.currentNode(), ui.outputSegmentationSelector.currentNode(),
                       model, ui.deviceComboBox.currentData or "auto", options, structures, probability_maps=maps)
