"""Model selector and "Manage…" menu (Qt): the list comes from the controller (the engine lists
models); download, install from file, delete run as processes through the controller. Model
folders picked by the user and the models folder are remembered in QSettings."""
from __future__ import annotations

from typing import Callable, Optional, Sequence

import qt
import slicer

from ..i18n import _
from ..processes.model_registry import ModelChoice
from ..processes.settings import (CURRENT_SETTING, FOLDERS_SETTING, MODELS_FOLDER_SETTING, model_folders_setting,
                                  models_folder_setting)


class ModelPanel:
    def __init__(self, combo: "qt.QComboBox", menu_button: "qt.QToolButton", controller,
                 on_models_folder_changed: Callable[[Optional[str]], None]) -> None:
        self.combo = combo
        self.controller = controller
        self.on_models_folder_changed = on_models_folder_changed
        self.choices: list[ModelChoice] = []
        menu = qt.QMenu(menu_button)
        for text, slot in ((_("Download selected model"), self.download_selected),
                           (_("Install model from file…"), self.install_from_file),
                           (_("Use a model folder…"), self.add_folder),
                           (_("Open models folder"), self.open_models_folder),
                           (_("Choose models folder…"), self.choose_models_folder),
                           (_("Delete selected model"), self.delete_selected)):
            menu.addAction(text).connect("triggered()", slot)
        menu_button.setMenu(menu)

    def set_choices(self, choices: Sequence[ModelChoice]) -> None:
        current = self.current_model() or qt.QSettings().value(CURRENT_SETTING)
        self.choices = list(choices)
        # Refilling must not write transient selections into the parameter node (saved with the scene).
        self.combo.blockSignals(True)
        try:
            self.combo.clear()
            for index, choice in enumerate(self.choices):
                self.combo.addItem(choice.label, choice.id)
                self.combo.setItemData(index, choice.tooltip, qt.Qt.ToolTipRole)
            self.combo.setCurrentIndex(-1)
        finally:
            self.combo.blockSignals(False)
        if current:
            self.combo.setCurrentIndex(max(self.combo.findData(current), 0))

    def current_choice(self) -> Optional[ModelChoice]:
        index = self.combo.currentIndex
        return self.choices[index] if 0 <= index < len(self.choices) else None

    def current_model(self) -> Optional[str]:
        """Registry id or folder for ``logic.segment(model=...)``; None: the registry default."""
        choice = self.current_choice()
        if choice is not None:
            qt.QSettings().setValue(CURRENT_SETTING, choice.id)
        return choice.id if choice is not None else None

    def select(self, model_id: str) -> bool:
        found = self.combo.findData(model_id)
        if found >= 0:
            self.combo.setCurrentIndex(found)
        return found >= 0

    # ------------------------------------------------------------------ actions
    def download_selected(self) -> None:
        choice = self.current_choice()
        if choice is not None and not choice.installed:
            self.controller.download_model(choice.id)

    def install_from_file(self) -> None:
        path = qt.QFileDialog.getOpenFileName(slicer.util.mainWindow(), _("Install SALT model"), "",
                                              _("Model") + " (*.zip model.pt config.pkl);;" + _("All files") + " (*)")
        if path:
            self.controller.install_model_from_file(path)

    def add_folder(self) -> None:
        folder = qt.QFileDialog.getExistingDirectory(slicer.util.mainWindow(), _("Folder with model.pt and config.pkl"))
        if folder:
            qt.QSettings().setValue(FOLDERS_SETTING, list(model_folders_setting()) + [folder])
            qt.QSettings().setValue(CURRENT_SETTING, folder)
            self.controller.refresh_models()

    def open_models_folder(self) -> None:
        folder = self.controller.logic.modelsHome or self.controller.models_folder
        if folder:
            qt.QDesktopServices.openUrl(qt.QUrl.fromLocalFile(str(folder)))

    def choose_models_folder(self) -> None:
        """Keep models elsewhere (e.g. a larger or shared disk)."""
        folder = qt.QFileDialog.getExistingDirectory(slicer.util.mainWindow(), _("Folder for SALT models"),
                                                     models_folder_setting() or "")
        if folder:
            qt.QSettings().setValue(MODELS_FOLDER_SETTING, folder)
            self.on_models_folder_changed(folder)
            self.controller.refresh_models()

    def delete_selected(self) -> None:
        choice = self.current_choice()
        if choice is not None and choice.installed and not choice.id.startswith(("/", "\\")) and ":" not in choice.id:
            self.controller.remove_model(choice.id)
