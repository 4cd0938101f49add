"""The module's statistics buttons (Structures panel) and the structure chooser section (before
Segment), added to the widget from code so the .ui stays as it is. Qt; what the buttons do is
:meth:`~.controller.ModuleController.on_export_statistics`."""
from __future__ import annotations

import qt
import slicer

from ..i18n import _
from .structure_chooser_view import StructureChooserView


def add_structure_sections(widget, ui_widget) -> StructureChooserView:
    """Insert the chooser after the Output section and the export buttons under the tree."""
    chooser = StructureChooserView()
    main_layout = ui_widget.layout()
    main_layout.insertWidget(main_layout.indexOf(widget.ui.outputsCollapsibleButton) + 1, chooser.section)
    row = qt.QHBoxLayout()
    for text, tool_tip, to_file in (
            (_("Export table"), _("Statistics of every tree node (volume, mean/median/percentiles HU) as a "
                                  "table node, shown in the table view and saved with the scene."), False),
            (_("Save CSV…"), _("The same statistics written to a .csv or .json file."), True)):
        button = qt.QPushButton(text)
        button.toolTip = tool_tip
        button.connect("clicked()", lambda to_file=to_file: export_statistics(widget, to_file))
        row.addWidget(button)
    widget.ui.treeCollapsibleButton.layout().addLayout(row)
    return chooser


def export_statistics(widget, to_file: bool = False) -> None:
    """The buttons' Qt part: the file dialog of *Save CSV…*; the rest is the controller's."""
    node = widget.treePanel.segmentation_node
    path = None
    if node is not None and to_file:
        path = qt.QFileDialog.getSaveFileName(slicer.util.mainWindow(), _("Save statistics"),
                                              _("{segmentation} statistics").format(segmentation=node.GetName())
                                              + ".csv", "CSV (*.csv);;JSON (*.json)")
        if not path:
            return
    widget.controller.on_export_statistics(node, path)
