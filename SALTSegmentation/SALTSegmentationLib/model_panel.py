"""Model selector and "Manage…" menu (Qt): list, download with progress, install from file,
use a folder, open the cache folder, delete. Works without the registry (folders only)."""
from __future__ import annotations

from typing import Callable, Optional

import qt
import slicer

from .model_registry import ModelChoice, model_choices, open_registry
from .worker import SegmentationJob

FOLDERS_SETTING = "SALTSegmentation/ModelFolders"
CURRENT_SETTING = "SALTSegmentation/Model"
#: Where downloaded/installed models live; overrides SALTSEG_HOME and the platform default.
MODELS_FOLDER_SETTING = "SALTSegmentation/ModelsFolder"


def models_folder_setting() -> Optional[str]:
    return qt.QSettings().value(MODELS_FOLDER_SETTING) or None


class ModelPanel:
    def __init__(self, combo: "qt.QComboBox", menu_button: "qt.QToolButton",
                 on_error: Callable[[str], None],
                 on_models_folder_changed: Optional[Callable[[str], None]] = None) -> None:
        self.combo = combo
        self.on_error = on_error
        self.on_models_folder_changed = on_models_folder_changed
        self.registry = open_registry(models_folder_setting())
        self.choices: list[ModelChoice] = []
        self._job: Optional[SegmentationJob] = None
        self._timer = qt.QTimer()
        self._timer.setInterval(100)
        self._timer.connect("timeout()", self._poll)
        menu = qt.QMenu(menu_button)
        actions = [("Download selected model", self.download_selected, True),
                   ("Install model from file…", self.install_from_file, True),
                   ("Use a model folder…", self.add_folder, False),
                   ("Open model cache folder", self.open_cache_folder, True),
                   ("Choose models folder…", self.choose_models_folder, True),
                   ("Delete selected model", self.delete_selected, True)]
        for text, slot, needs_registry in actions:
            action = menu.addAction(text)
            action.enabled = self.registry is not None or not needs_registry
            if not action.enabled:
                action.toolTip = "The model registry is not available yet: press Segment to install its packages."
            action.connect("triggered()", slot)
        menu_button.setMenu(menu)
        self._actions = menu.actions()
        self.refresh()

    def reopen_registry(self) -> None:
        """After installing the registry's dependencies."""
        self.registry = open_registry(models_folder_setting())
        for action in self._actions:
            action.enabled = self.registry is not None or action.text == "Use a model folder…"
        self.refresh()

    # ------------------------------------------------------------------ list
    def _folders(self) -> tuple[str, ...]:
        value = qt.QSettings().value(FOLDERS_SETTING) or []
        return tuple([value] if isinstance(value, str) else value)

    def refresh(self) -> None:
        current = self.current_model() or qt.QSettings().value(CURRENT_SETTING)
        try:
            self.choices = model_choices(self.registry, self._folders())
        except Exception as error:  # noqa: BLE001 - a broken catalogue must not break the module
            self.on_error(f"Could not read the model list: {error}")
            self.choices = model_choices(None, self._folders())
        self.combo.clear()
        for index, choice in enumerate(self.choices):
            self.combo.addItem(choice.label, choice.id)
            self.combo.setItemData(index, choice.tooltip, qt.Qt.ToolTipRole)
        if current:
            found = self.combo.findData(current)
            self.combo.setCurrentIndex(max(found, 0))

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
        """Make ``model_id`` the current choice if it is listed; returns whether it is."""
        found = self.combo.findData(model_id)
        if found >= 0:
            self.combo.setCurrentIndex(found)
        return found >= 0

    # ------------------------------------------------------------------ actions
    def download_selected(self) -> None:
        choice = self.current_choice()
        if choice is None:
            return
        if choice.installed:
            slicer.util.infoDisplay(f"{choice.id} is already installed.")
            return
        self._run(f"Downloading {choice.id}…",
                  lambda report, cancel: self.registry.download(
                      choice.id, lambda done, total, *rest: report("download", done / total if total else 0.0),
                      cancel))

    def install_from_file(self) -> None:
        path = qt.QFileDialog.getOpenFileName(None, "Install SALT model", "",
                                              "Model (*.zip model.pt config.pkl);;All files (*)")
        if not path:
            return
        model_id = qt.QInputDialog.getText(None, "Install SALT model",
                                           "Model id (leave empty for a catalogue model):")
        self._run("Installing model…", lambda report, cancel: self.registry.install_from_path(
            path, as_id=model_id or None, cancel=cancel))

    def add_folder(self) -> None:
        folder = qt.QFileDialog.getExistingDirectory(None, "Folder with model.pt and config.pkl")
        if folder:
            qt.QSettings().setValue(FOLDERS_SETTING, list(self._folders()) + [folder])
            self.refresh()
            self.combo.setCurrentIndex(self.combo.findData(folder))

    def open_cache_folder(self) -> None:
        folder = self.registry.cache_dir()
        folder.mkdir(parents=True, exist_ok=True)
        qt.QDesktopServices.openUrl(qt.QUrl.fromLocalFile(str(folder)))

    def choose_models_folder(self) -> None:
        """Keep models elsewhere (e.g. a larger or shared disk); empty resets to the default."""
        current = models_folder_setting() or (str(self.registry.cache_dir()) if self.registry else "")
        folder = qt.QFileDialog.getExistingDirectory(None, "Folder for SALT models", current)
        if not folder:
            return
        qt.QSettings().setValue(MODELS_FOLDER_SETTING, folder)
        if self.on_models_folder_changed is not None:
            self.on_models_folder_changed(folder)
        self.reopen_registry()

    def delete_selected(self) -> None:
        choice = self.current_choice()
        if choice is None or not choice.installed:
            return
        if slicer.util.confirmOkCancelDisplay(f"Delete the installed model {choice.id}?"):
            try:
                self.registry.remove(choice.id)
            except Exception as error:  # noqa: BLE001 - shown to the user
                self.on_error(str(error))
            self.refresh()

    # ------------------------------------------------------------------ background transfer
    def _run(self, title: str, compute) -> None:
        if self._job is not None and not self._job.finished:
            self.on_error("A model transfer is already running.")
            return
        self._dialog = qt.QProgressDialog(title, "Cancel", 0, 100)
        self._dialog.setWindowModality(qt.Qt.WindowModal)
        self._job = SegmentationJob(compute, self._on_progress, lambda path: self.refresh(),
                                    lambda error: self.on_error(str(error)))
        self._dialog.connect("canceled()", self._job.cancel)
        self._dialog.show()
        self._job.start()
        self._timer.start()

    def _on_progress(self, stage: str, fraction: float) -> None:
        self._dialog.setValue(int(100 * fraction))

    def _poll(self) -> None:
        if self._job is not None and self._job.poll():
            self._timer.stop()
            self._dialog.close()
