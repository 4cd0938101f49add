"""The optional structure chooser before **Segment** (Qt): the label tree with check boxes in a
collapsed section; default everything. Behaviour lives in :class:`.structure_chooser.StructureChoice`."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import ctk
import qt

from saltseg.tree.labeltree import LabelTree

from ..i18n import _
from .structure_chooser import StructureChoice

NODE_ROLE = qt.Qt.UserRole + 1
#: The published SALT model's tree, bundled with the engine: what the chooser offers.
PUBLISHED_TREE = Path(__file__).resolve().parents[2] / "saltseg" / "resources" / "saros+totalseg-tree-labels.txt"
QT_STATE = {0: qt.Qt.Unchecked, 1: qt.Qt.PartiallyChecked, 2: qt.Qt.Checked}


def add_check_items(choice, parent: Optional[int], parent_item, items: dict) -> None:
    """One checkable item per tree node under ``parent`` (a choice's ``nodes``), recursively."""
    for node in choice.nodes(parent):
        item = qt.QTreeWidgetItem(parent_item)
        item.setText(0, choice.tree.display_name(node))
        item.setToolTip(0, choice.tree.node_id(node))
        item.setData(0, NODE_ROLE, node)
        item.setFlags(item.flags() | qt.Qt.ItemIsUserCheckable)
        items[node] = item
        add_check_items(choice, node, item, items)


class StructureChooserView:
    def __init__(self, tree: Optional[LabelTree] = None) -> None:
        self.choice = StructureChoice(tree or LabelTree.from_tree_labels_file(PUBLISHED_TREE))
        self.section = ctk.ctkCollapsibleButton()
        self.section.text = _("Structures to segment")
        self.section.collapsed = True
        layout = qt.QVBoxLayout(self.section)
        self.summary = qt.QLabel()
        self.summary.wordWrap = True
        layout.addWidget(self.summary)
        self.tree_widget = qt.QTreeWidget()
        self.tree_widget.setHeaderHidden(True)
        self.tree_widget.toolTip = _("Only the checked structures are kept (fewer segments import faster); the "
                                     "network still runs over the whole scan.")
        layout.addWidget(self.tree_widget)
        buttons = qt.QHBoxLayout()
        for text, checked in ((_("All"), True), (_("None"), False)):
            button = qt.QPushButton(text)
            button.connect("clicked()", lambda checked=checked: self._set_all(checked))
            buttons.addWidget(button)
        layout.addLayout(buttons)
        self._items: dict[int, "qt.QTreeWidgetItem"] = {}
        self._updating = False
        add_check_items(self.choice, None, self.tree_widget.invisibleRootItem(), self._items)
        self.tree_widget.connect("itemChanged(QTreeWidgetItem*,int)", self._on_item_changed)
        self._sync()

    def structures(self) -> Optional[list[str]]:
        return self.choice.structures()

    def _on_item_changed(self, item, column: int) -> None:
        if self._updating or column != 0:
            return
        self.choice.set_checked(item.data(0, NODE_ROLE), item.checkState(0) != qt.Qt.Unchecked)
        self._sync()

    def _set_all(self, checked: bool) -> None:
        self.choice.set_all(checked)
        self._sync()

    def _sync(self) -> None:
        self._updating = True
        try:
            for node, item in self._items.items():
                item.setCheckState(0, QT_STATE[int(self.choice.check_state(node))])
        finally:
            self._updating = False
        self.summary.text = self.choice.summary()
