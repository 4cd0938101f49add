"""What the module's widget does, without Qt: the Segment/Cancel button, status and error text,
progress, the out-of-memory → CPU retry, dependency offers (:mod:`.dependency_offers`), the model
list (refreshed after every install) and model transfers. The Qt widget implements :class:`View` and binds signals to
the
``on_*`` methods, nothing more — so pytest checks the behaviour with a recording view.

Dialogs never open inside a process callback: those run in a ``QProcess`` slot, where a modal
dialog's nested event loop would let later output overtake earlier output and start a retry
inside the slot. They go through ``defer`` (the widget: ``qt.QTimer.singleShot(0, …)``), which
runs them once the slot has returned. After :meth:`ModuleController.shutdown` (module closed,
Reload, exit) nothing starts and no callback reaches the view.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any, Callable, ContextManager, Optional, Protocol, Sequence

from saltseg.errors import InsufficientMemoryError, ModelNotInstalledError, OutOfMemoryError, SaltSegError

from ..processes.dependencies import DependencyProbe
from ..processes.model_registry import DEFAULT_DEVICES, ModelChoice, model_choices
from ..processes.process_runner import ProcessRunner, SubprocessRunner
from ..processes.process_task import ProcessTask, engine_command
from ..scene.output_target import existing_output
from .activity_log import DETAIL_LINES, ActivityLog
from .dependency_offers import DependencyOffers
from .tree_actions import TreeActions

logger = logging.getLogger(__name__)

#: Errors a run on the CPU may not have (the GPU's memory was short): offer that retry.
MEMORY_ERRORS = (OutOfMemoryError, InsufficientMemoryError)
SEGMENT, CANCEL = "Segment", "Cancel"
#: The answers to "replace the output's segments?", in the order the dialog shows them.
OUTPUT_CHOICES = ("Replace", "New segmentation", "Cancel")


@dataclass
class RunSettings:
    volume: Any
    segmentation: Any = None
    model: Optional[str] = None
    device: str = "auto"
    options: dict = field(default_factory=dict)
    #: Keep only these structures (the chooser); None: every structure.
    structures: Optional[list] = None


class View(Protocol):
    def set_segment_button(self, text: str, enabled: bool) -> None: ...
    def set_status(self, text: str) -> None: ...
    def show_error(self, message: str, details: str = "") -> None: ...
    def append_log(self, line: str) -> None: ...
    def set_progress(self, visible: bool, percent: int = 0, text: str = "") -> None: ...
    def ask_yes_no(self, message: str) -> bool: ...
    def ask_choice(self, message: str, choices: Sequence[str]) -> Optional[int]:
        """The index of the button pressed; None when the dialog was closed."""
    def ask_text(self, title: str, label: str) -> Optional[str]: ...
    def set_models(self, choices: Sequence[ModelChoice]) -> None: ...
    def set_devices(self, devices: Sequence[dict]) -> None: ...
    def select_device(self, name: str) -> None: ...
    def set_output(self, node: Any) -> None: ...
    def show_table(self, table_node: Any) -> None: ...
    def busy(self) -> ContextManager[None]:
        """A wait cursor while a blocking step runs (never around a dialog)."""
    def install_packages(self, requirements: Sequence[str], constraints: str) -> bool: ...
    def has_volume(self) -> bool: ...
    def run_settings(self) -> RunSettings: ...


class ModuleController:
    def __init__(self, view: View, logic: Any, python: str,
                 runner_factory: Callable[[], ProcessRunner] = SubprocessRunner,
                 probe: Optional[DependencyProbe] = None,
                 model_folders: Callable[[], Sequence[str]] = tuple,
                 scratch_folder: Optional[str] = None,
                 defer: Optional[Callable[[Callable[[], None]], None]] = None) -> None:
        self.view = view
        self.logic = logic
        self.python = python
        self.runner_factory = runner_factory
        self.probe = probe or DependencyProbe()
        self.model_folders = model_folders
        #: Where the pip constraints files of installs are written (None: the system's temp folder).
        self.scratch_folder = scratch_folder
        self.task: Optional[ProcessTask] = None  # model list, model transfer or PyTorch install
        self.task_kind = ""  # "list", "transfer" or "install"
        self.models: list[ModelChoice] = []
        #: The engine's models folder (for "Open models folder"), known once the list was read.
        self.models_folder: Optional[str] = None
        self._refresh_after_task = False
        self._dependency_state: Optional[tuple] = None
        self._run_model: Optional[str] = None
        self._run_device = "auto"
        #: Runs an action once the current Qt slot has returned (default: at once, for scripts).
        self.defer = defer or (lambda action: action())
        self.closed = False
        self._task_cleanup: Optional[Callable[[], None]] = None
        self.devices: Sequence[dict] = DEFAULT_DEVICES
        #: The offers to install what segmenting needs, and the Structures panel's actions.
        self.offers = DependencyOffers(view, self.probe, python, scratch_folder, self._start_task,
                                       self.refresh_models, lambda: self.devices)
        self.tree_actions = TreeActions(view, logic)
        self.log = ActivityLog(on_line=self._show_log_line)
        engine = getattr(logic, "engine", None)
        if engine is not None and hasattr(engine, "on_output"):
            engine.on_output = lambda line: self.log.add("engine", line)

    # ------------------------------------------------------------------ log, status, dialogs
    def _show_log_line(self, line: str) -> None:
        if not self.closed:
            self.view.append_log(line)

    def _status(self, text: str) -> None:
        if self.closed:
            return
        self.view.set_status(text)
        self.log.add("module", text)

    def _error(self, message: str, then: Optional[Callable[[], None]] = None) -> None:
        """Show ``message`` in an error dialog with the log's last lines as details, after the
        current slot (then run ``then``, e.g. a question that follows the error)."""
        if self.closed:
            return
        self.log.add("error", message)

        def show() -> None:
            if self.closed:
                return
            self.view.show_error(message, self.log.tail(DETAIL_LINES))
            if then is not None:
                then()

        self.defer(show)

    def shutdown(self) -> None:
        """The module is closing (Reload, application exit): cancel the background task without
        its follow-ups (no model-list refresh is started) and cut every callback to the view."""
        self.closed = True
        task, self.task = self.task, None
        if task is not None:
            task.on_done = None
            task.cancel()
        cleanup, self._task_cleanup = self._task_cleanup, None
        if cleanup is not None:
            cleanup()
        engine = getattr(self.logic, "engine", None)
        if engine is not None and hasattr(engine, "on_output"):
            engine.on_output = None

    # ------------------------------------------------------------------ state shown
    @property
    def running(self) -> bool:
        job = self.logic.currentJob
        return job is not None and not job.finished

    def update_button(self) -> None:
        if self.closed:
            return
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
        if self.closed:
            return
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
        if not self.offers.ready():
            return
        settings = self.view.run_settings()
        if settings.structures is not None and not settings.structures:
            self._error("No structure is checked under \"Structures to segment\": check at least one.")
            return
        if self.offers.offer_fast_runtime(settings.device, then=self.on_segment_clicked):
            return
        go_on, output = self._output_for(settings)
        if not go_on:
            self._status("Nothing was changed.")
            return
        self._run_model, self._run_device = settings.model, settings.device
        self._status("Starting the engine…")
        subset = {"structures": settings.structures} if settings.structures else {}
        try:
            node = self.logic.segment(settings.volume, output, model=settings.model,
                                      device=settings.device, wait=False, progress=self.on_progress,
                                      options=settings.options, onFinished=self.on_finished, **subset)
        except (SaltSegError, ValueError, RuntimeError) as error:
            self._error(str(error))
            self.update_button()
            return
        self.view.set_output(node)
        self.view.set_progress(True, 0, "Starting: %p%")
        self.update_button()

    def _output_for(self, settings: RunSettings) -> tuple[bool, Any]:
        """(go on?, the node to segment into): a non-empty output is replaced only when the user says
        so; else the result goes into a new segmentation (None) or nothing runs."""
        existing = existing_output(settings.segmentation, settings.volume)
        if existing is None:
            return True, settings.segmentation
        choice = self.view.ask_choice(existing.question(settings.volume.GetName()), OUTPUT_CHOICES)
        if choice == 0:
            return True, settings.segmentation
        return choice == 1, None

    def on_progress(self, stage: str, fraction: float) -> None:
        if self.closed:
            return
        self.view.set_progress(True, int(round(100 * fraction)), f"{stage.capitalize()}: %p%")
        self.view.set_status("")

    def on_finished(self, job: Any) -> None:
        """The run ended (called from the engine's output slot: dialogs are deferred)."""
        if self.closed:
            return
        self.view.set_progress(False)
        self.update_button()
        leftover = getattr(job, "cleanup_error", None)
        leftover = f"\n{leftover}" if leftover else ""
        if job.state == job.SUCCEEDED:
            result = job.result
            elapsed = time.perf_counter() - job.started_at
            text = f"{len(result.present_values)} structures in {elapsed:.0f} s"
            text += " (model already loaded)." if result.model_reused else "."
            self._status(text + "".join(f"\nWarning: {w}" for w in result.warnings) + leftover)
            return
        if job.state == job.CANCELLED:
            message = str(job.error)
            self._status(("Cancelled; nothing was changed." if "by the user" in message else message) + leftover)
            return
        if isinstance(job.error, ModelNotInstalledError) and self._run_model:
            self.log.add("error", str(job.error))
            self.defer(lambda model=self._run_model: self._offer_download(model))
            return
        device = self._run_device
        retry = None
        if isinstance(job.error, MEMORY_ERRORS) and device != "cpu":
            retry = lambda error=job.error: self._offer_cpu_retry(error)  # noqa: E731
        self._error(str(job.error) + leftover, then=retry)

    def _offer_download(self, model: str) -> None:
        if self.closed:
            return
        if self.view.ask_yes_no(f"The model '{model}' is not installed yet. Download it now?"):
            self.download_model(model)
        else:
            self._status(f"The model '{model}' is not installed: choose Manage… → Download selected model.")

    def _offer_cpu_retry(self, error: BaseException) -> None:
        if not self.closed and self.view.ask_yes_no(f"{error}\n\nRetry on the CPU? It is slower but has more memory."):
            self.view.select_device("cpu")
            self.on_segment_clicked()

    # ------------------------------------------------------------------ statistics
    def on_export_statistics(self, segmentation_node: Any, path: Optional[str] = None) -> Any:
        """*Export table* / *Save CSV…*: the statistics of every tree node of ``segmentation_node``
        on the CT it was made on, as a table node the view shows (with ``path``, also that file).
        Returns the table node, or None after saying why there is none."""
        if segmentation_node is None:
            self.view.show_error("Choose a SALT segmentation first.")
            return None
        try:
            with self.view.busy():
                table = self.logic.exportStatisticsTable(segmentation_node, None, path)
        except Exception as error:  # noqa: BLE001 - MRML/VTK failures too: reported, never lost in a Qt slot
            self.view.show_error(f"Could not compute the statistics: {error}")
            return None
        self.view.show_table(table)
        rows = table.GetTable().GetNumberOfRows()
        self._status(f"Statistics of {rows} tree nodes in the table '{table.GetName()}'"
                     + (f", and in {path}." if path else "."))
        return table

    # ------------------------------------------------------------------ models
    def refresh_models(self) -> None:
        """Ask the engine for the model list and devices (it owns the registry)."""
        if self.closed:
            return  # never a new process while the module closes
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
        if task.cancelled or self.closed:  # replaced by a transfer, which lists the models again
            return
        if task.error is not None:
            self._status(f"Could not read the model list: {task.error}")
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
                    cleanup: Callable[[], None] = lambda: None,
                    then: Optional[Callable[[], None]] = None) -> None:
        if self.task is not None and not self.task.finished:
            if self.task_kind != "list":
                cleanup()
                self._error("Another installation or download is still running.")
                return
            self.task.cancel()

        def done(task: ProcessTask) -> None:
            self._task_cleanup = None
            cleanup()
            if self.closed:
                return
            self.view.set_progress(False)
            if task.cancelled:
                self._status("Cancelled.")
            elif task.error is not None:
                self._error(task.error)
            else:
                self._status(success)
            self.task = None
            self.refresh_models()  # after any install, download or removal
            self.update_button()
            if then is not None and not task.cancelled and task.error is None:
                # e.g. segmenting after an install, which can ask Replace/New/Cancel: not inside the slot
                self.defer(lambda: None if self.closed else then())

        def progress(stage: str, fraction: float) -> None:
            if not self.closed:
                self.view.set_progress(True, int(100 * fraction), f"{title} %p%")

        def line(text: str) -> None:
            if self.closed:
                return
            self.log.add(kind, text)
            self.view.set_status(f"{title}\n{text[-200:]}")

        task = ProcessTask(commands, self.runner_factory, on_progress=progress, on_line=line, on_done=done)
        self.task, self.task_kind = task, kind
        self._task_cleanup = cleanup  # shutdown() cuts on_done but must still remove scratch files
        self._status(title)
        self.view.set_progress(True, 0, f"{title} %p%")
        task.start()
        self.update_button()
