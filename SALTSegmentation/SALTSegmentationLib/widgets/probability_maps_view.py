"""The Output section's *Probability maps* (Qt): the check box (on: the confidence map) and, in a
collapsed group box, the label tree with check boxes for the structures that also get a map of
their own. Behaviour: :class:`.probability_choice.MapChoice`; stored by the widget in the parameter
node (:func:`..scene.parameters.write_probability_maps`)."""
from __future__ import annotations

import logging
from typing import Callable, Optional, Sequence

import qt

from saltseg.tree.labeltree import LabelTree

from ..i18n import _
from .probability_choice import MapChoice
from .structure_chooser_view import NODE_ROLE, PUBLISHED_TREE, QT_STATE, add_check_items

logger = logging.getLogger(__name__)


class ProbabilityMapsView:
    def __init__(self, ui, on_changed: Callable[[], None], tree: Optional[LabelTree] = None) -> None:
        self.ui = ui
        self.on_changed = on_changed
        self.choice = MapChoice(tree or LabelTree.from_tree_labels_file(PUBLISHED_TREE))
        self._items: dict[int, "qt.QTreeWidgetItem"] = {}
        self._updating = False
        widget = ui.probabilityNodesTreeWidget
        widget.setHeaderHidden(True)
        add_check_items(self.choice, None, widget.invisibleRootItem(), self._items)
        widget.connect("itemChanged(QTreeWidgetItem*,int)", self._on_item_changed)
        ui.probabilityMapsCheckBox.connect("toggled(bool)", self._on_toggled)
        self._sync()

    def state(self) -> tuple[bool, list[str]]:
        """(maps asked for?, the structures with a map of their own)."""
        return bool(self.ui.probabilityMapsCheckBox.checked), self.choice.names()

    def set_state(self, on: bool, names: Sequence[str]) -> None:
        """Show a stored choice (no change is reported back)."""
        unknown = self.choice.restore(names)
        if unknown:
            logger.warning("probability maps: %s not in the label tree; left out", ", ".join(unknown))
        self._updating = True
        try:
            self.ui.probabilityMapsCheckBox.checked = bool(on)
        finally:
            self._updating = False
        self._sync()

    def _on_item_changed(self, item, column: int) -> None:
        if self._updating or column != 0:
            return
        self.choice.set_checked(item.data(0, NODE_ROLE), item.checkState(0) != qt.Qt.Unchecked)
        self._sync()
        self.on_changed()

    def _on_toggled(self, checked: bool) -> None:
        self._sync()
        if not self._updating:
            self.on_changed()

    def _sync(self) -> None:
        self._updating = True
        try:
            for node, item in self._items.items():
                item.setCheckState(0, QT_STATE[int(self.choice.check_state(node))])
        finally:
            self._updating = False
        on = bool(self.ui.probabilityMapsCheckBox.checked)
        self.ui.probabilityNodesGroupBox.enabled = on
        self.ui.probabilityNodesSummaryLabel.text = self.choice.summary() if on else _("No probability maps.")
