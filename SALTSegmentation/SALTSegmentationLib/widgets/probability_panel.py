"""Binds the module's probability widgets (Qt) to their behaviour: *Output → Probability maps*
(:class:`.probability_maps_view.ProbabilityMapsView`, stored in the parameter node by the widget),
and in the Structures panel the selection's heat map, *Show probability* and *Show uncertain
voxels* (:class:`.probability_actions.ProbabilityActions`, the controller's)."""
from __future__ import annotations

from typing import Any

from .probability_maps_view import ProbabilityMapsView


class ProbabilityPanel:
    def __init__(self, widget: Any) -> None:
        """``widget``: the module's widget (its ``ui``, ``treeView``, ``treePanel``, ``controller``)."""
        self.widget = widget
        self.actions = widget.controller.probability_actions
        self.maps = ProbabilityMapsView(widget.ui, widget.updateParameterNodeFromGUI)
        widget.treeView.on_selected = self._on_selected
        widget.treePanel.on_edited = self.actions.on_segments_edited  # the heat map follows painting
        widget.ui.showProbabilityCheckBox.connect("toggled(bool)", self._on_overlay_toggled)
        widget.ui.showUncertainButton.connect("clicked()", self._on_show_uncertain)
        self.actions.enabled = bool(widget.ui.showProbabilityCheckBox.checked)

    def _on_selected(self, node_id) -> None:
        self.actions.on_node_selected(self.widget.treePanel.segmentation_node, node_id)

    def _on_overlay_toggled(self, checked: bool) -> None:
        self.actions.on_overlay_toggled(checked, self.widget.treePanel.segmentation_node,
                                        self.widget.treeView.selected_node_id())

    def _on_show_uncertain(self) -> None:
        if self.actions.on_show_uncertain(self.widget.treePanel.segmentation_node,
                                          self.widget.treeView.selected_node_id()):
            self.widget.rebuildTree()
