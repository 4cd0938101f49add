"""The "Run on" rows of the module's Inputs section (Qt): shows :class:`~.run_location.RunLocation`'s
settings and hands every edit back to it (kept in Slicer's settings, never in the scene: none of
these widgets is connected to the parameter node). No behaviour here beyond showing things."""
from __future__ import annotations

from typing import Any

import qt
import slicer

from ..i18n import _
from ..processes.server_settings import LOCAL, RUN_ON_CHOICES, ServerSettings
from .run_location import RunLocation

#: Rows shown only while running on a server (label, field).
SERVER_ROWS = (("serverUrlLabel", "serverUrlLineEdit"), ("serverTokenLabel", "serverTokenLineEdit"),
               ("serverCertificateLabel", "serverCertificateLineEdit"), ("serverCertificateButton",),
               ("allowUnencryptedCheckBox",))


class ServerPanel:
    def __init__(self, ui: Any, location: RunLocation) -> None:
        self.ui = ui
        self.location = location
        self._filling = False
        ui.runOnComboBox.connect("currentIndexChanged(int)", lambda index: self._edited(True))
        ui.allowUnencryptedCheckBox.connect("toggled(bool)", lambda checked: self._edited(True))
        for field in (ui.serverUrlLineEdit, ui.serverTokenLineEdit, ui.serverCertificateLineEdit):
            # Kept at every keystroke (a run started right away uses what is typed); the model list
            # is read again only once editing is finished.
            field.connect("textEdited(QString)", lambda text: self._edited(False))
            field.connect("editingFinished()", lambda: self._edited(True))
        ui.serverCertificateButton.connect("clicked()", self._choose_certificate)
        location.attach(self)

    # ------------------------------------------------------------------ RunLocationView
    def show_run_location(self, settings: ServerSettings) -> None:
        self._filling = True
        try:
            self.ui.runOnComboBox.setCurrentIndex(RUN_ON_CHOICES.index(settings.run_on))
            self.ui.serverUrlLineEdit.text = settings.url
            self.ui.serverTokenLineEdit.text = settings.token
            self.ui.serverCertificateLineEdit.text = settings.ca_file
            self.ui.allowUnencryptedCheckBox.checked = settings.allow_unencrypted
        finally:
            self._filling = False
        self._show_rows(settings.on_server)

    def set_server_problem(self, text: str) -> None:
        self.ui.serverProblemLabel.text = text
        self.ui.serverProblemLabel.setVisible(bool(text))

    def set_model_management(self, enabled: bool) -> None:
        self.ui.modelMenuButton.enabled = enabled
        self.ui.modelMenuButton.toolTip = (_("Download, install or delete models on this computer.") if enabled
                                           else _("The SALT server's administrator manages its models."))

    # ------------------------------------------------------------------ edits
    def _settings(self) -> ServerSettings:
        index = self.ui.runOnComboBox.currentIndex
        return ServerSettings(RUN_ON_CHOICES[index] if 0 <= index < len(RUN_ON_CHOICES) else LOCAL,
                              self.ui.serverUrlLineEdit.text, self.ui.serverTokenLineEdit.text,
                              self.ui.allowUnencryptedCheckBox.checked, self.ui.serverCertificateLineEdit.text)

    def _edited(self, finished: bool) -> None:
        if self._filling:
            return
        settings = self._settings()
        self._show_rows(settings.on_server)
        self.location.apply(settings, refresh=finished)

    def _show_rows(self, visible: bool) -> None:
        for row in SERVER_ROWS:
            for name in row:
                getattr(self.ui, name).setVisible(visible)

    def _choose_certificate(self) -> None:
        path = qt.QFileDialog.getOpenFileName(slicer.util.mainWindow(), _("The SALT server's certificate"),
                                              self.ui.serverCertificateLineEdit.text,
                                              _("Certificates") + " (*.pem *.crt);;" + _("All files") + " (*)")
        if path:
            self.ui.serverCertificateLineEdit.text = path
            self._edited(True)
