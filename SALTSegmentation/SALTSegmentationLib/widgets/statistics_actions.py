"""The module's statistics buttons (Structures panel) and the structure chooser section (before
Segment), added to the widget from code so the .ui stays as it is. Qt; the numbers come from
``logic.exportStatisticsTable`` (scene layer)."""
from __future__ import annotations

import qt
import slicer

from .structure_chooser_view import StructureChooserView


def add_structure_sections(widget, ui_widget) -> StructureChooserView:
    """Insert the chooser after the Output section and the export buttons under the tree."""
    chooser = StructureChooserView()
    main_layout = ui_widget.layout()
    main_layout.insertWidget(main_layout.indexOf(widget.ui.outputsCollapsibleButton) + 1, chooser.section)
    row = qt.QHBoxLayout()
    for text, tool_tip, to_file in (
            ("Export table", "Statistics of every tree node (volume, mean/median/percentiles HU) as a table "
                             "node, shown in the table view and saved with the scene.", False),
            ("Save CSV…", "The same statistics written to a .csv or .json file.", True)):
        button = qt.QPushButton(text)
        button.toolTip = tool_tip
        button.connect("clicked()", lambda to_file=to_file: export_statistics(widget, to_file))
        row.addWidget(button)
    widget.ui.treeCollapsibleButton.layout().addLayout(row)
    return chooser


def export_statistics(widget, to_file: bool = False) -> None:
    """Statistics of the shown segmentation on the CT it was made on: a table node shown in the
    table view, and with ``to_file`` also a CSV/JSON file."""
    node = widget.treePanel.segmentation_node
    if node is None:
        widget.view.show_error("Choose a SALT segmentation first.")
        return
    path = None
    if to_file:
        path = qt.QFileDialog.getSaveFileName(slicer.util.mainWindow(), "Save statistics",
                                              f"{node.GetName()} statistics.csv", "CSV (*.csv);;JSON (*.json)")
        if not path:
            return
    try:
        with slicer.util.tryWithErrorDisplay("Could not compute the statistics.", waitCursor=True):
            table = widget.logic.exportStatisticsTable(node, None, path)
    except Exception:  # noqa: BLE001 - tryWithErrorDisplay has shown it (and re-raises)
        return
    # As Slicer's Segment Statistics module does: first a layout with a table view, then select the
    # table (PropagateTableSelection only reaches table views that exist).
    layout_manager = slicer.app.layoutManager()
    if layout_manager is not None:
        layout_manager.setLayout(slicer.modules.tables.logic().GetLayoutWithTable(layout_manager.layout))
    application_logic = slicer.app.applicationLogic()
    application_logic.GetSelectionNode().SetActiveTableID(table.GetID())
    application_logic.PropagateTableSelection()
