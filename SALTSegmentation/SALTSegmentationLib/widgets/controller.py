"""What the module's widget does, without Qt: the Segment/Cancel button, status and error text,
progress, the out-of-memory → CPU retry, dependency offers, the model list (refreshed after every
install) and model transfers. The Qt widget implements :class:`View` and binds signals to the
``on_*`` methods, nothing more — so pytest checks the behaviour with a recording view.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Protocol, Sequence

from saltseg.errors import SaltSegError

from ..engine.dependencies import FAST_RUNTIME_REQUIREMENTS, TORCH_REQUIREMENT, DependencyProbe
from ..engine.engine_job import error_kind
from ..engine.model_registry import DEFAULT_DEVICES, ModelChoice, model_choices
from ..engine.process_runner import ProcessRunner, SubprocessRunner
from ..engine.process_task import ProcessTask, engine_command, module_command

logger = logging.getLogger(__name__)

MEMORY_ERRORS = ("OutOfMemoryError", "InsufficientMemoryError")
SEGMENT, CANCEL = "Segment", "Cancel"
#: Asked before the first CPU run when the faster CPU runtime is missing (measured speed-up:
#: saltseg.inference.backends.select.FAST_RUNTIME_SPEEDUP).
FAST_RUNTIME_QUESTION = ("Segmenting will run on the CPU. Install the faster CPU runtime first? It makes "
                         "segmenting about twice as fast (a download of about 60 MB, once; Slicer stays "
                         "usable meanwhile, and segmenting starts when it is done).")


@dataclass
class RunSettings:
    volume: Any
    segmentation: Any = None
    model: Optional[str] = None
    device: str = "auto"
    options: dict = field(default_factory=dict)


class View(Protocol):
    def set_segment_button(self, text: str, enabled: bool) -> None: ...
    def set_status(self, text: str) -> None: ...
    def show_error(self, message: str) -> None: ...
    def set_progress(self, visible: bool, percent: int = 0, text: str = "") -> None: ...
    def ask_yes_no(self, message: str) -> bool: ...
    def ask_text(self, title: str, label: str) -> Optional[str]: ...
    def set_models(self, choices: Sequence[ModelChoice]) -> None: ...
    def set_devices(self, devices: Sequence[dict]) -> None: ...
    def select_device(self, name: str) -> None: ...
    def set_output(self, node: Any) -> None: ...
    def install_packages(self, requirements: Sequence[str]) -> bool: ...
    def has_volume(self) -> bool: ...
    def run_settings(self) -> RunSettings: ...


class ModuleController:
    def __init__(self, view: View, logic: Any, python: str,
                 runner_factory: Callable[[], ProcessRunner] = SubprocessRunner,
                 probe: Optional[DependencyProbe] = None,
                 model_folders: Callable[[], Sequence[str]] = tuple) -> None:
        self.view = view
        self.logic = logic
        self.python = python
        self.runner_factory = runner_factory
        self.probe = probe or DependencyProbe()
        self.model_folders = model_folders
        self.task: Optional[ProcessTask] = None  # model list, model transfer or PyTorch install
        self.task_kind = ""  # "list", "transfer" or "install"
        self.models: list[ModelChoice] = []
        #: The engine's models folder (for "Open models folder"), known once the list was read.
        self.models_folder: Optional[str] = None
        self._refresh_after_task = False
        self._dependency_state: Optional[tuple] = None
        self._run_model: Optional[str] = None
        self._run_device = "auto"
        self.devices: Sequence[dict] = DEFAULT_DEVICES
        #: pip's arguments for the faster CPU runtime (tests point them at a local package folder).
        self.fast_runtime_pip_args: Sequence[str] = FAST_RUNTIME_REQUIREMENTS
        self._fast_runtime_offered = False

    # ------------------------------------------------------------------ state shown
    @property
    def running(self) -> bool:
        job = self.logic.currentJob
        return job is not None and not job.finished

    def update_button(self) -> None:
        if self.running:
            self.view.set_segment_button(CANCEL, True)
        else:
            self.view.set_segment_button(SEGMENT, self.view.has_volume() and not self._installing)

    @property
    def _installing(self) -> bool:
        return self.task is not None and not self.task.finished and self.task_kind == "install"

    # ------------------------------------------------------------------ module life
    def on_enter(self) -> None:
        """Entering the module: refresh the model list if something was installed meanwhile
        (e.g. PyTorch from the PyTorch module)."""
        state = self.probe.state()
        if state != self._dependency_state:
            self.refresh_models()
        self.update_button()

    def on_scene_start_close(self) -> None:
        if self.running:
            self.logic.cancel()

    # ------------------------------------------------------------------ segmenting
    def on_segment_clicked(self) -> None:
        if self.running:
            self.logic.cancel()
            return
        if not self._dependencies_ready():
            return
        settings = self.view.run_settings()
        if self._offer_fast_runtime(settings.device):
            return
        self._run_model, self._run_device = settings.model, settings.device
        self.view.set_status("Starting the engine…")
        try:
            node = self.logic.segment(settings.volume, settings.segmentation, model=settings.model,
                                      device=settings.device, wait=False, progress=self.on_progress,
                                      options=settings.options, onFinished=self.on_finished)
        except (SaltSegError, ValueError, RuntimeError) as error:
            self.view.show_error(str(error))
            self.update_button()
            return
        self.view.set_output(node)
        self.view.set_progress(True, 0, "Starting: %p%")
        self.update_button()

    def on_progress(self, stage: str, fraction: float) -> None:
        self.view.set_progress(True, int(round(100 * fraction)), f"{stage.capitalize()}: %p%")
        self.view.set_status("")

    def on_finished(self, job: Any) -> None:
        self.view.set_progress(False)
        self.update_button()
        if job.state == job.SUCCEEDED:
            result = job.result
            elapsed = time.perf_counter() - job.started_at
            text = f"{len(result.present_values)} structures in {elapsed:.0f} s"
            text += " (model already loaded)." if result.model_reused else "."
            self.view.set_status(text + "".join(f"\nWarning: {w}" for w in result.warnings))
            return
        if job.state == job.CANCELLED:
            message = str(job.error)
            self.view.set_status("Cancelled; nothing was changed." if "by the user" in message else message)
            return
        kind = error_kind(job.error)
        if kind == "ModelNotInstalledError" and self._run_model:
            if self.view.ask_yes_no(f"The model '{self._run_model}' is not installed yet. Download it now?"):
                self.download_model(self._run_model)
            else:
                self.view.set_status(f"The model '{self._run_model}' is not installed: choose Manage… → "
                                     "Download selected model.")
            return
        self.view.show_error(str(job.error))
        if kind in MEMORY_ERRORS and self._run_device != "cpu" and self.view.ask_yes_no(
                f"{job.error}\n\nRetry on the CPU? It is slower but has more memory."):
            self.view.select_device("cpu")
            self.on_segment_clicked()

    # ------------------------------------------------------------------ dependencies
    def _dependencies_ready(self) -> bool:
        missing = self.probe.missing_packages()
        if missing:
            if not self.view.ask_yes_no(f"SALT needs these Python packages: {', '.join(missing)}. Install them now?"):
                return False
            installed = self.view.install_packages(missing)
            self.refresh_models()  # the model list can be read once they are there
            if not installed:
                return False
        problem = self.probe.torch_problem()
        if problem is not None:
            if self.view.ask_yes_no(f"{problem} Install it now? This downloads 1-3 GB and may take several "
                                    "minutes; Slicer stays usable meanwhile."):
                self.install_torch()
            return False
        return True

    def install_torch(self) -> None:
        """light-the-torch in a process (what the PyTorch extension runs, minus its final
        ``import torch`` in Slicer's process), then the model list is read again."""
        commands = [module_command(self.python, "pip", "install", "light-the-torch>=0.5"),
                    module_command(self.python, "light_the_torch", "install", TORCH_REQUIREMENT)]
        self._start_task("install", commands, "Installing PyTorch…", "PyTorch is installed; press Segment.")

    def runs_on_cpu(self, device: str) -> bool:
        """Whether a run on ``device`` ends up on the CPU (``auto`` does without a GPU)."""
        if device == "cpu":
            return True
        gpus = [d for d in self.devices if d.get("name") not in ("auto", "cpu") and d.get("available", True)]
        return device == "auto" and not gpus

    def _offer_fast_runtime(self, device: str) -> bool:
        """On a CPU run without the faster CPU runtime, offer it once; True when its installation
        started (segmenting then starts when it is done)."""
        if self._fast_runtime_offered or not self.runs_on_cpu(device) or self.probe.fast_runtime_installed():
            return False
        self._fast_runtime_offered = True  # asked once per session, whatever the answer or outcome
        if not self.view.ask_yes_no(FAST_RUNTIME_QUESTION):
            return False
        self.install_fast_runtime(segment_after=True)
        return True

    def install_fast_runtime(self, segment_after: bool = False) -> None:
        """pip in a process (progress and Cancel like the PyTorch install), then, when asked,
        segmenting with the settings shown at that time."""
        self._start_task("install", [module_command(self.python, "pip", "install", *self.fast_runtime_pip_args)],
                         "Installing the faster CPU runtime…", "The faster CPU runtime is installed.",
                         then=self.on_segment_clicked if segment_after else None)

    # ------------------------------------------------------------------ models
    def refresh_models(self) -> None:
        """Ask the engine for the model list and devices (it owns the registry)."""
        self._dependency_state = self.probe.state()
        if self.task is not None and not self.task.finished:
            self._refresh_after_task = True
            return
        if self.probe.torch_version() is None:  # the engine cannot start yet: folders only
            self._show_models([], DEFAULT_DEVICES)
            return
        task = ProcessTask([engine_command(self.python, "info", home=self.logic.modelsHome)],
                           self.runner_factory, on_done=self._models_listed)
        self.task, self.task_kind = task, "list"
        task.start()

    def _models_listed(self, task: ProcessTask) -> None:
        if task.cancelled:  # replaced by a transfer, which lists the models again when it is done
            return
        if task.error is not None:
            self.view.set_status(f"Could not read the model list: {task.error}")
            self._show_models([], DEFAULT_DEVICES)
        else:
            self.models_folder = task.result.get("models_folder")
            self._show_models(task.result.get("models", []), task.result.get("devices", DEFAULT_DEVICES))
        self.task = None
        if self._refresh_after_task:
            self._refresh_after_task = False
            self.refresh_models()

    def _show_models(self, rows: Sequence[dict], devices: Sequence[dict]) -> None:
        self.models = model_choices(rows, self.model_folders())
        self.devices = list(devices)
        self.view.set_models(self.models)
        self.view.set_devices(devices)

    def download_model(self, model_id: str) -> None:
        self._start_task("transfer", [engine_command(self.python, "download", model_id, home=self.logic.modelsHome)],
                         f"Downloading {model_id}…", f"{model_id} is installed.")

    def install_model_from_file(self, path: str) -> None:
        model_id = self.view.ask_text("Install SALT model", "Model id (leave empty for a catalogue model):")
        if model_id is None:  # the dialog was cancelled
            return
        args = [path] + (["--as", model_id.strip()] if model_id.strip() else [])
        self._start_task("transfer", [engine_command(self.python, "install", *args, home=self.logic.modelsHome)],
                         "Installing the model…", "The model is installed.")

    def remove_model(self, model_id: str) -> None:
        if self.view.ask_yes_no(f"Delete the installed model {model_id}?"):
            self._start_task("transfer", [engine_command(self.python, "remove", model_id, home=self.logic.modelsHome)],
                             f"Deleting {model_id}…", f"{model_id} was deleted.")

    def cancel_task(self) -> None:
        if self.task is not None:
            self.task.cancel()

    # ------------------------------------------------------------------ background tasks
    def _start_task(self, kind: str, commands, title: str, success: str,
                    then: Optional[Callable[[], None]] = None) -> None:
        if self.task is not None and not self.task.finished:
            if self.task_kind != "list":
                self.view.show_error("Another installation or download is still running.")
                return
            self.task.cancel()

        def done(task: ProcessTask) -> None:
            self.view.set_progress(False)
            if task.cancelled:
                self.view.set_status("Cancelled.")
            elif task.error is not None:
                self.view.show_error(task.error)
            else:
                self.view.set_status(success)
            self.task = None
            self.refresh_models()  # after any install, download or removal
            self.update_button()
            if then is not None and not task.cancelled and task.error is None:
                then()

        task = ProcessTask(commands, self.runner_factory,
                           on_progress=lambda stage, f: self.view.set_progress(True, int(100 * f), f"{title} %p%"),
                           on_line=lambda line: self.view.set_status(f"{title}\n{line[-200:]}"), on_done=done)
        self.task, self.task_kind = task, kind
        self.view.set_status(title)
        self.view.set_progress(True, 0, f"{title} %p%")
        task.start()
        self.update_button()
