"""The Structures panel's Qt wiring: the tree (:class:`.tree_widget.TreePanelView`) kept up to date
with the segmentation by :class:`.tree_panel_sync.TreePanelSync` (once per burst of segment events),
its search and expand/collapse, and the buttons *Show only*, *Merge subtree into one segment* and
*Show as label tree*, whose behaviour is the controller's (:class:`.tree_actions.TreeActions`).
No behaviour here beyond binding signals."""
from __future__ import annotations

from typing import Any, Callable

import qt

from .tree_panel_sync import TreePanelSync
from .tree_widget import TreePanelView

#: Quiet time after the last segment event before the tree panel is updated (a burst → one update).
TREE_UPDATE_DELAY_MS = 300


class StructuresPanel:
    def __init__(self, ui: Any, controller: Any, show_error: Callable[..., None]) -> None:
        self.ui = ui
        self.controller = controller
        self.tree_view = TreePanelView(ui.structureTreeWidget, show_error)
        # Segments added or removed elsewhere rebuild the tree, painted ones update their numbers:
        # once per burst (the timer restarts on every event; the Segment Editor sends one per stroke),
        # and only while the module is shown.
        self.timer = qt.QTimer()
        self.timer.setSingleShot(True)
        self.timer.setInterval(TREE_UPDATE_DELAY_MS)
        self.sync = TreePanelSync(self.tree_view, self.timer.start, self.timer.stop)
        self.timer.connect("timeout()", self.sync.flush)
        ui.searchLineEdit.connect("textChanged(QString)", self.tree_view.apply_filter)
        ui.expandAllButton.connect("clicked()", self.tree_view.expand_all)
        ui.collapseAllButton.connect("clicked()", self.tree_view.collapse_all)
        ui.showOnlyButton.connect("clicked()", self.on_show_only)
        ui.mergeSubtreeButton.connect("clicked()", self.on_merge_subtree)
        ui.showAsLabelTreeButton.connect("clicked()", self.on_show_as_label_tree)

    def on_show_only(self) -> None:
        node_id = self.tree_view.selected_node_id()
        if node_id:
            self.controller.logic.showOnlySubtree(self.sync.segmentation_node, node_id)
            self.tree_view.refresh_check_states()

    def on_show_as_label_tree(self) -> None:
        self.controller.tree_actions.on_show_as_label_tree(self.ui.outputSegmentationSelector.currentNode())
        self.sync.rebuild()

    def on_merge_subtree(self) -> None:
        if self.controller.tree_actions.on_merge_subtree(self.sync.segmentation_node,
                                                          self.tree_view.selected_node_id()):
            self.sync.rebuild()
