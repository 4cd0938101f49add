"""Draws a :class:`~..scene.tree_model.TreePanelModel` in a QTreeWidget.

All decisions (which segments a checkbox changes, tri-state, volumes, search) come from the model,
and when to draw from :class:`~.tree_panel_sync.TreePanelSync`; this file only turns them into
items and applies the model's visibility changes to MRML in one batch per click.
"""
from __future__ import annotations

from typing import Callable, Optional

import qt
import slicer

from ..i18n import _
from ..scene import subtrees
from ..scene.tree_model import CheckState, TreePanelModel

NODE_ROLE = qt.Qt.UserRole + 1
_QT_STATE = {CheckState.UNCHECKED: qt.Qt.Unchecked, CheckState.PARTIAL: qt.Qt.PartiallyChecked,
             CheckState.CHECKED: qt.Qt.Checked}


SURE_COLUMN = 3


class TreePanelView:
    def __init__(self, tree_widget: "qt.QTreeWidget", on_error: Callable[[str], None],
                 on_selected: Optional[Callable[[Optional[str]], None]] = None) -> None:
        self.widget = tree_widget
        self.on_error = on_error
        #: Gets the selected node's tree path (None: nothing selected), also after a redraw.
        self.on_selected = on_selected
        self.model: Optional[TreePanelModel] = None
        self.segmentation_node = None
        self._items: dict[int, "qt.QTreeWidgetItem"] = {}
        self._updating = False
        self._filter = ""
        tree_widget.setColumnCount(4)
        tree_widget.setHeaderLabels([_("Structure"), _("Volume (mL)"), _("Mean HU"), _("Sure %")])
        tree_widget.headerItem().setToolTip(SURE_COLUMN, _("The model's mean confidence over the structure's "
                                                           "voxels (with probability maps only)"))
        tree_widget.header().setStretchLastSection(False)
        tree_widget.header().setSectionResizeMode(0, qt.QHeaderView.Stretch)
        tree_widget.header().setSectionResizeMode(1, qt.QHeaderView.ResizeToContents)
        tree_widget.header().setSectionResizeMode(2, qt.QHeaderView.ResizeToContents)
        tree_widget.header().setSectionResizeMode(SURE_COLUMN, qt.QHeaderView.ResizeToContents)
        tree_widget.connect("itemChanged(QTreeWidgetItem*,int)", self._on_item_changed)
        tree_widget.connect("itemDoubleClicked(QTreeWidgetItem*,int)", self._on_double_clicked)
        tree_widget.connect("currentItemChanged(QTreeWidgetItem*,QTreeWidgetItem*)", self._on_current_changed)

    # ------------------------------------------------------------------ building
    def show_error(self, message: str) -> None:
        self.on_error(message)

    def show_model(self, model: Optional[TreePanelModel], segmentation_node) -> None:
        """Draw ``model`` anew, keeping the expanded rows and the search."""
        expanded = {node for node, item in self._items.items() if item.isExpanded()}
        selected = self.selected_node_id()
        self._updating = True
        try:
            self.widget.clear()
            self._items = {}
            self.model, self.segmentation_node = model, segmentation_node
            if model is not None:
                self._add_children(None, self.widget.invisibleRootItem(), expanded)
                kept = next((item for node, item in self._items.items() if model.node_id(node) == selected), None)
                if kept is not None:
                    self.widget.setCurrentItem(kept)
        finally:
            self._updating = False
        self.widget.setColumnHidden(SURE_COLUMN, model is None or not model.has_sure)
        self.apply_filter(self._filter)
        self._on_current_changed()

    def _add_children(self, parent: Optional[int], parent_item, expanded: set) -> None:
        for node in self.model.children(parent):
            item = qt.QTreeWidgetItem(parent_item)
            item.setText(0, self.model.label(node))
            item.setToolTip(0, self.model.node_id(node))
            item.setText(1, f"{self.model.volume_ml(node):.1f}")
            item.setTextAlignment(1, qt.Qt.AlignRight)
            mean_hu = self.model.mean_hu(node)
            item.setText(2, "" if mean_hu is None else f"{mean_hu:.0f}")
            item.setTextAlignment(2, qt.Qt.AlignRight)
            item.setText(SURE_COLUMN, self._sure_text(node))
            item.setTextAlignment(SURE_COLUMN, qt.Qt.AlignRight)
            item.setData(0, NODE_ROLE, node)
            item.setFlags(item.flags() | qt.Qt.ItemIsUserCheckable)
            if self.model.segment_for(node) is not None:  # leaves (and merged subtrees) show their colour
                pixmap = qt.QPixmap(12, 12)
                pixmap.fill(qt.QColor.fromRgbF(*self.model.color(node)))
                item.setIcon(0, qt.QIcon(pixmap))
            item.setCheckState(0, _QT_STATE[self.model.check_state(node)])
            self._items[node] = item
            self._add_children(node, item, expanded)
            item.setExpanded(node in expanded or self.model.tree.depth(node) < 1)

    def show_numbers(self, nodes: set) -> None:
        """Redraw the volume and mean HU of ``nodes`` (after an edit: the painted ones and ancestors)."""
        for node in nodes:
            item = self._items.get(node)
            if item is not None:
                item.setText(1, f"{self.model.volume_ml(node):.1f}")
                mean_hu = self.model.mean_hu(node)
                item.setText(2, "" if mean_hu is None else f"{mean_hu:.0f}")
                item.setText(SURE_COLUMN, self._sure_text(node))
        if self.model is not None and self.model.has_sure == self.widget.isColumnHidden(SURE_COLUMN):
            self.widget.setColumnHidden(SURE_COLUMN, not self.model.has_sure)

    def _sure_text(self, node: int) -> str:
        sure = self.model.sure_percent(node)
        return "" if sure is None else f"{sure:.0f}"

    # ------------------------------------------------------------------ state
    def refresh_check_states(self) -> None:
        """Re-read visibility from MRML (e.g. the user toggled a segment in Segmentations)."""
        if self.model is None or self._updating:
            return
        display = self.segmentation_node.GetDisplayNode()
        if display is None:
            return
        self.model.apply_visibility({sid: bool(display.GetSegmentVisibility(sid))
                                     for node in self.model.children(None) for sid in self.model.segment_ids(node)})
        self._sync_check_states()

    def _sync_check_states(self) -> None:
        self._updating = True
        try:
            for node, item in self._items.items():
                item.setCheckState(0, _QT_STATE[self.model.check_state(node)])
        finally:
            self._updating = False

    def _on_item_changed(self, item, column: int) -> None:
        if self._updating or column != 0 or self.model is None:
            return
        node = item.data(0, NODE_ROLE)
        # A click on a partially checked box shows the whole subtree (never "partial" as a target).
        checked = item.checkState(0) != qt.Qt.Unchecked
        changes = self.model.set_checked(node, checked)
        self._updating = True
        try:
            subtrees.set_segments_visibility(self.segmentation_node, changes)
        finally:
            self._updating = False
        self._sync_check_states()

    def _on_double_clicked(self, item, column: int) -> None:
        node = item.data(0, NODE_ROLE)
        ids = self.model.segment_ids(node) if self.model is not None else []
        if not ids:
            return
        center = self.segmentation_node.GetSegmentCenterRAS(self.model.segment_for(node) or ids[0])
        if center is None:
            self.on_error(_("This structure is empty."))
            return
        slicer.modules.markups.logic().JumpSlicesToLocation(center[0], center[1], center[2], True)

    # ------------------------------------------------------------------ selection, search, expand
    def selected_node_id(self) -> Optional[str]:
        item = self.widget.currentItem()
        if item is None or self.model is None:
            return None
        return self.model.node_id(item.data(0, NODE_ROLE))

    def _on_current_changed(self, *args) -> None:
        if not self._updating and self.on_selected is not None:
            self.on_selected(self.selected_node_id())

    def apply_filter(self, text: str) -> None:
        self._filter = text
        if self.model is None:
            return
        keep = self.model.matching_nodes(text)
        for node, item in self._items.items():
            item.setHidden(node not in keep)
            if text.strip() and node in keep:
                item.setExpanded(True)

    def expand_all(self) -> None:
        self.widget.expandAll()

    def collapse_all(self) -> None:
        self.widget.collapseAll()
