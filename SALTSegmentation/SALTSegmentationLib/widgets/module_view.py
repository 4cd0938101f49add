"""The module widget's side of :class:`~.controller.View`: the controller's decisions shown with
the module's widgets and Slicer's dialogs (Qt). No behaviour here beyond showing things."""
from __future__ import annotations

import contextlib
import logging
from typing import Any, Callable, Iterator, Optional, Sequence

import qt
import slicer

from ..i18n import _


class ModuleView:
    def __init__(self, ui: Any, title: str, run_settings: Callable[[], Any]) -> None:
        self.ui = ui
        self.title = title
        self.run_settings = run_settings
        self.controller = None  # set once the controller exists (progress shows its task's Cancel)
        self.model_panel = None

    def set_segment_button(self, text: str, enabled: bool) -> None:
        self.ui.segmentButton.text = text
        self.ui.segmentButton.enabled = enabled

    def set_status(self, text: str) -> None:
        self.ui.statusLabel.text = text

    def show_error(self, message: str, details: str = "") -> None:
        logging.error(message)
        self.ui.statusLabel.text = _("Error: {message}").format(message=message)
        if details:  # "Show Details…": the log's last lines
            slicer.util.errorDisplay(message, windowTitle=self.title, detailedText=details)
        else:
            slicer.util.errorDisplay(message, windowTitle=self.title)

    def append_log(self, line: str) -> None:
        self.ui.logTextEdit.appendPlainText(line)

    def copy_log(self) -> None:
        qt.QApplication.clipboard().setText(self.controller.log.text())

    def clear_log(self) -> None:
        self.controller.log.clear()
        self.ui.logTextEdit.clear()

    def set_progress(self, visible: bool, percent: int = 0, text: str = "") -> None:
        self.ui.progressBar.setVisible(visible)
        self.ui.progressBar.value = percent
        if text:
            self.ui.progressBar.format = text
        task = self.controller.task
        self.ui.taskCancelButton.setVisible(visible and task is not None and not task.finished)

    def ask_yes_no(self, message: str) -> bool:
        return slicer.util.confirmYesNoDisplay(message, windowTitle=self.title)

    def ask_choice(self, message: str, choices: Sequence[str]) -> Optional[int]:
        box = qt.QMessageBox(slicer.util.mainWindow())
        box.setWindowTitle(self.title)
        box.setIcon(qt.QMessageBox.Question)
        box.setText(message)
        for index, text in enumerate(choices):
            # The last choice is the dialog's Escape/close answer. Buttons carry their index as a
            # property: comparing PythonQt wrappers of the clicked button is not needed.
            role = qt.QMessageBox.RejectRole if index == len(choices) - 1 else qt.QMessageBox.ActionRole
            box.addButton(text, role).setProperty("choiceIndex", index)
        box.exec_()
        clicked = box.clickedButton()
        index = clicked.property("choiceIndex") if clicked is not None else None
        box.deleteLater()
        return int(index) if index is not None else None

    def ask_text(self, title: str, label: str) -> Optional[str]:
        # PythonQt's static QInputDialog.getText returns only the text, so Cancel and an empty
        # answer look alike; a dialog instance tells them apart.
        dialog = qt.QInputDialog(slicer.util.mainWindow())
        dialog.setWindowTitle(title)
        dialog.setLabelText(label)
        accepted = dialog.exec_() == qt.QDialog.Accepted
        text = dialog.textValue()
        dialog.deleteLater()
        return text if accepted else None

    def set_models(self, choices) -> None:
        self.model_panel.set_choices(choices)

    def set_devices(self, devices) -> None:
        combo = self.ui.deviceComboBox
        current = combo.currentData
        labels = {"auto": _("Auto"), "cuda": _("CUDA (NVIDIA GPU)"), "mps": "Apple MPS", "cpu": _("CPU")}
        # Refilling must not write transient selections into the parameter node (saved with the scene).
        combo.blockSignals(True)
        try:
            combo.clear()
            for index, device in enumerate(devices):
                name = device["name"]
                combo.addItem(labels.get(name, name), name)
                combo.model().item(index).setEnabled(bool(device["available"]))
                combo.setItemData(index, device.get("reason") or labels.get(name, name), qt.Qt.ToolTipRole)
            combo.setCurrentIndex(-1)
        finally:
            combo.blockSignals(False)
        self.select_device(current or "auto")

    def select_device(self, name: str) -> None:
        index = self.ui.deviceComboBox.findData(name)
        if index >= 0:
            self.ui.deviceComboBox.setCurrentIndex(index)

    def set_output(self, node) -> None:
        self.ui.outputSegmentationSelector.setCurrentNode(node)

    @contextlib.contextmanager
    def busy(self) -> Iterator[None]:
        qt.QApplication.setOverrideCursor(qt.QCursor(qt.Qt.WaitCursor))
        try:
            yield
        finally:
            qt.QApplication.restoreOverrideCursor()

    def show_table(self, table_node) -> None:
        # As Slicer's Segment Statistics module does: first a layout with a table view, then select
        # the table (PropagateTableSelection only reaches table views that exist).
        layout_manager = slicer.app.layoutManager()
        if layout_manager is not None:
            layout_manager.setLayout(slicer.modules.tables.logic().GetLayoutWithTable(layout_manager.layout))
        application_logic = slicer.app.applicationLogic()
        application_logic.GetSelectionNode().SetActiveTableID(table_node.GetID())
        application_logic.PropagateTableSelection()

    def install_packages(self, requirements, constraints: str) -> bool:
        import importlib.util
        import subprocess

        from ..processes.pip_constraints import slicer_pip_install_arguments

        packaging = importlib.util.find_spec("slicer.packaging") is not None
        args, kwargs = slicer_pip_install_arguments(requirements, constraints, packaging)
        if packaging:
            # Newer Slicer shows its own progress dialog and, on failure, an error dialog with
            # pip's log: a second dialog of ours would only repeat it.
            try:
                slicer.util.pip_install(*args, requester=self.title, **kwargs)
            except subprocess.CalledProcessError:
                return False
            return True
        try:
            with slicer.util.tryWithErrorDisplay(_("The packages could not be installed."), waitCursor=True):
                slicer.util.pip_install(*args, **kwargs)
        except Exception:  # noqa: BLE001 - tryWithErrorDisplay has shown it
            return False
        return True

    def has_volume(self) -> bool:
        return self.ui.inputVolumeSelector.currentNode() is not None
