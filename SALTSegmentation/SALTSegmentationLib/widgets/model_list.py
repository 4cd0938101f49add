"""The Model menu's content, without Qt: the models and devices of the engine that will run —
this computer's (``saltseg info`` in an engine process, which owns the registry; folders only
until PyTorch is there) or the chosen SALT server's (:class:`.run_location.RunLocation`) — read
again after every install, and the transfers that change this computer's models (download,
install from a file, delete). The module controller holds one (``controller.model_list``)."""
from __future__ import annotations

from typing import Any, Callable, Optional, Sequence

from ..i18n import _
from ..processes.dependencies import DependencyProbe
from ..processes.model_registry import DEFAULT_DEVICES, ModelChoice, model_choices
from ..processes.process_task import ProcessTask, engine_command
from .background_tasks import BackgroundTasks
from .feedback import Feedback
from .run_location import RunLocation


class ModelList:
    def __init__(self, feedback: Feedback, tasks: BackgroundTasks, location: RunLocation,
                 probe: DependencyProbe, python: str, logic: Any,
                 model_folders: Callable[[], Sequence[str]] = tuple) -> None:
        self.feedback = feedback
        self.view = feedback.view
        self.tasks = tasks
        self.location = location
        self.probe = probe
        self.python = python
        self.logic = logic
        #: The model folders the user added (Slicer's settings), listed with the engine's models.
        self.model_folders = model_folders
        self.models: list[ModelChoice] = []
        self.devices: Sequence[dict] = DEFAULT_DEVICES
        #: The engine's models folder (for "Open models folder"), known once the list was read.
        self.models_folder: Optional[str] = None
        #: What was installed when the list was read (another state: read it again).
        self.dependency_state: Optional[tuple] = None
        self._refresh_after_task = False

    def refresh(self) -> None:
        """Ask the engine for the model list and devices (it owns the registry)."""
        if self.feedback.closed:
            return  # never a new process while the module closes
        if self.location.on_server:
            self.location.refresh_models()
            return
        self.location.listed_local()
        self.dependency_state = self.probe.state()
        if self.tasks.busy:
            self._refresh_after_task = True
            return
        if self.probe.torch_version() is None:  # the engine cannot start yet: folders only
            self._show_rows([], DEFAULT_DEVICES)
            return
        task = ProcessTask([engine_command(self.python, "info", home=self.logic.modelsHome)],
                           self.tasks.runner_factory, on_done=self._listed)
        self.tasks.start_quiet(task, "list")

    def refresh_if_installed_meanwhile(self) -> None:
        """Entering the module: something may have been installed meanwhile (e.g. PyTorch from
        the PyTorch module)."""
        if self.probe.state() != self.dependency_state:
            self.refresh()

    def _listed(self, task: ProcessTask) -> None:
        if task.cancelled or self.feedback.closed:  # replaced by a transfer, which lists the models again
            return
        if self.location.on_server:
            pass  # switched to a server while this computer's list was read: the server's is shown
        elif task.error is not None:
            self.feedback.status(_("Could not read the model list: {error}").format(error=task.error))
            self._show_rows([], DEFAULT_DEVICES)
        else:
            self.models_folder = task.result.get("models_folder")
            self._show_rows(task.result.get("models", []), task.result.get("devices", DEFAULT_DEVICES))
        self.tasks.release()
        if self._refresh_after_task:
            self._refresh_after_task = False
            self.refresh()

    def _show_rows(self, rows: Sequence[dict], devices: Sequence[dict]) -> None:
        self.show(model_choices(rows, self.model_folders()), devices)

    def show(self, choices: Sequence[ModelChoice], devices: Sequence[dict]) -> None:
        """Show these models and devices (this computer's or a server's)."""
        if self.feedback.closed:
            return
        self.models = list(choices)
        self.devices = list(devices)
        self.view.set_models(self.models)
        self.view.set_devices(devices)

    # ------------------------------------------------------------------ transfers
    def _transfer(self, args: Sequence[str], title: str, success: str) -> None:
        self.tasks.start("transfer", [engine_command(self.python, *args, home=self.logic.modelsHome)], title, success)

    def download(self, model_id: str) -> None:
        self._transfer(["download", model_id], _("Downloading {model}…").format(model=model_id),
                       _("{model} is installed.").format(model=model_id))

    def install_from_file(self, path: str) -> None:
        model_id = self.view.ask_text(_("Install SALT model"), _("Model id (leave empty for a catalogue model):"))
        if model_id is None:  # the dialog was cancelled
            return
        args = [path] + (["--as", model_id.strip()] if model_id.strip() else [])
        self._transfer(["install", *args], _("Installing the model…"), _("The model is installed."))

    def remove(self, model_id: str) -> None:
        if self.view.ask_yes_no(_("Delete the installed model {model}?").format(model=model_id)):
            self._transfer(["remove", model_id], _("Deleting {model}…").format(model=model_id),
                           _("{model} was deleted.").format(model=model_id))
