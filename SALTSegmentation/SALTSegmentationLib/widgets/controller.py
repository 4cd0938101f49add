"""What the module's widget does, without Qt: the Segment/Cancel button, progress, what a run's
end says, the out-of-memory → CPU retry and the offer to download a missing model, and the
statistics export. Its helpers do the rest: what the user is told (:mod:`.feedback`), the one
background process (:mod:`.background_tasks`), the model list and transfers (:mod:`.model_list`),
the dependency offers (:mod:`.dependency_offers`), "Run on" (:mod:`.run_location`) and the
Structures panel's actions (:mod:`.tree_actions`, :mod:`.probability_actions`). The Qt widget
implements :class:`View` and binds signals to the ``on_*`` methods, nothing more — so pytest checks
the behaviour with a recording view.

Dialogs never open inside a process callback (see :mod:`.feedback`). After
:meth:`ModuleController.shutdown` (module closed, Reload, exit) nothing starts and no callback
reaches the view.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any, Callable, ContextManager, Optional, Protocol, Sequence

from saltseg.errors import InsufficientMemoryError, ModelNotInstalledError, OutOfMemoryError, SaltSegError

from ..i18n import _
from ..processes.dependencies import DependencyProbe
from ..processes.model_registry import ModelChoice
from ..processes.process_runner import ProcessRunner, SubprocessRunner
from ..processes.process_task import ProcessTask
from ..scene.output_target import existing_output
from .background_tasks import BackgroundTasks
from .dependency_offers import DependencyOffers
from .feedback import Feedback
from .model_list import ModelList
from .probability_actions import ProbabilityActions
from .run_location import RunLocation, server_error_text
from .tree_actions import TreeActions

logger = logging.getLogger(__name__)

#: Errors a run on the CPU may not have (the GPU's memory was short): offer that retry.
MEMORY_ERRORS = (OutOfMemoryError, InsufficientMemoryError)
SEGMENT, CANCEL = _("Segment"), _("Cancel")
CANCELLING = _("Cancelling: the engine stops after the part of the scan it is computing (a few seconds) and keeps "
               "the model loaded. Press Cancel again to stop it at once.")
#: The answers to "replace the output's segments?", in the order the dialog shows them.
OUTPUT_CHOICES = (_("Replace"), _("New segmentation"), _("Cancel"))


@dataclass
class RunSettings:
    volume: Any
    segmentation: Any = None
    model: Optional[str] = None
    device: str = "auto"
    options: dict = field(default_factory=dict)
    #: Keep only these structures (the chooser); None: every structure.
    structures: Optional[list] = None
    #: The probability maps asked for: ``segment``'s ``confidence``/``probabilities`` ({}: none).
    probability_maps: dict = field(default_factory=dict)


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
                 defer: Optional[Callable[[Callable[[], None]], None]] = None,
                 settings_store: Any = None) -> None:
        self.view = view
        self.logic = logic
        self.python = python
        self._cancel_asked = False  # Cancel pressed once during this run: the next press kills
        self.runner_factory = runner_factory
        self.probe = probe or DependencyProbe()
        #: Where the pip constraints files of installs are written (None: the system's temp folder).
        self.scratch_folder = scratch_folder
        #: Status line, error dialogs (after the current Qt slot: ``defer``) and the activity log.
        self.feedback = Feedback(view, defer)
        self.log = self.feedback.log
        #: The one background process: model list, model transfer or install.
        self.tasks = BackgroundTasks(self.feedback, runner_factory, self.refresh_models, self.update_button)
        #: "Run on: this computer / a SALT server", kept in ``settings_store`` (Slicer's QSettings).
        self.location = RunLocation(settings_store, runner_factory, python,
                                     lambda choices, devices: self.model_list.show(choices, devices),
                                     self.feedback.status, self.refresh_models)
        self.model_list = ModelList(self.feedback, self.tasks, self.location, self.probe, python, logic, model_folders)
        #: The offers to install what segmenting needs, and the Structures panel's actions.
        self.offers = DependencyOffers(view, self.probe, python, scratch_folder, self.tasks.start,
                                       self.refresh_models, lambda: self.model_list.devices)
        self.tree_actions = TreeActions(view, logic)
        self.probability_actions = ProbabilityActions(view, logic)
        self._run_model: Optional[str] = None
        self._run_device = "auto"
        self._run_server: Optional[dict] = None
        engine = getattr(logic, "engine", None)
        if engine is not None and hasattr(engine, "on_output"):
            engine.on_output = lambda line: self.log.add("engine", line)

    @property
    def closed(self) -> bool:
        return self.feedback.closed

    def shutdown(self) -> None:
        """The module is closing (Reload, application exit): cancel the background task without
        its follow-ups (no model-list refresh is started) and cut every callback to the view."""
        self.feedback.closed = True
        self.tasks.shutdown()
        self.location.shutdown()
        self.probability_actions.clear()  # the slice views get back what they showed
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
            self.view.set_segment_button(SEGMENT, self.view.has_volume() and not self.tasks.installing)

    # ------------------------------------------------------------------ module life
    def on_enter(self) -> None:
        """Entering the module: refresh the model list if something was installed meanwhile
        (e.g. PyTorch from the PyTorch module)."""
        if self.closed:
            return
        self.model_list.refresh_if_installed_meanwhile()
        self.update_button()

    def on_scene_start_close(self) -> None:
        if self.running:
            self.logic.cancel()
        self.probability_actions.forget()  # its segmentation goes with the scene

    # ------------------------------------------------------------------ segmenting
    def on_segment_clicked(self) -> None:
        if self.running:  # the button reads Cancel: asked once, the engine stops after its window
            self.logic.cancel(atOnce=self._cancel_asked)
            if self.running:
                self._cancel_asked = True
                self.feedback.status(CANCELLING)
            return
        self._cancel_asked = False
        try:
            server = self.location.server_for_run()  # None: this computer, which needs PyTorch
        except SaltSegError as error:
            self.feedback.error(str(error))
            return
        if server is None and not self.offers.ready():
            return
        settings = self.view.run_settings()
        if settings.structures is not None and not settings.structures:
            self.feedback.error(_("No structure is checked under \"Structures to segment\": check at least one."))
            return
        if server is None and self.offers.offer_fast_runtime(settings.device, then=self.on_segment_clicked):
            return
        go_on, output = self._output_for(settings)
        if not go_on:
            self.feedback.status(_("Nothing was changed."))
            return
        self._run_model, self._run_device, self._run_server = settings.model, settings.device, server
        self.feedback.status(_("Sending the CT to the SALT server {url}…").format(url=server["url"]) if server
                             else _("Starting the engine…"))
        subset = {"structures": settings.structures} if settings.structures else {}
        subset.update(settings.probability_maps)
        if server is not None:
            subset["server"] = server
        try:
            node = self.logic.segment(settings.volume, output, model=settings.model,
                                      device=settings.device, wait=False, progress=self.on_progress,
                                      options=settings.options, onFinished=self.on_finished, **subset)
        except (SaltSegError, ValueError, RuntimeError) as error:
            self.feedback.error(str(error))
            self.update_button()
            return
        self.view.set_output(node)
        self.view.set_progress(True, 0, _("Starting: %p%"))
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
            text = (_("{count} structures in {seconds} s (model already loaded).") if result.model_reused
                    else _("{count} structures in {seconds} s.")).format(count=len(result.present_values),
                                                                           seconds=f"{elapsed:.0f}")
            text += self.probability_actions.result_note(result)
            warnings = "".join("\n" + _("Warning: {warning}").format(warning=w) for w in result.warnings)
            self.feedback.status(text + warnings + leftover)
            return
        if job.state == job.CANCELLED:
            message = str(job.error)
            cancelled = _("Cancelled; nothing was changed.") if "by the user" in message else message
            self.feedback.status(cancelled + leftover)
            return
        if self._run_server is not None:  # no download offer or CPU retry: the server has its own
            self.feedback.error(server_error_text(job.error) + leftover)
            return
        if isinstance(job.error, ModelNotInstalledError) and self._run_model:
            self.log.add("error", str(job.error))
            self.feedback.later(lambda model=self._run_model: self._offer_download(model))
            return
        device = self._run_device
        retry = None
        if isinstance(job.error, MEMORY_ERRORS) and device != "cpu":
            retry = lambda error=job.error: self._offer_cpu_retry(error)  # noqa: E731
        self.feedback.error(str(job.error) + leftover, then=retry)

    def _offer_download(self, model: str) -> None:
        if self.closed:
            return
        if self.view.ask_yes_no(_("The model '{model}' is not installed yet. Download it now?").format(model=model)):
            self.download_model(model)
        else:
            self.feedback.status(_("The model '{model}' is not installed: choose Manage… → Download selected model.")
                                 .format(model=model))

    def _offer_cpu_retry(self, error: BaseException) -> None:
        if not self.closed and self.view.ask_yes_no(
                f"{error}\n\n" + _("Retry on the CPU? It is slower but has more memory.")):
            self.view.select_device("cpu")
            self.on_segment_clicked()

    # ------------------------------------------------------------------ statistics
    def on_export_statistics(self, segmentation_node: Any, path: Optional[str] = None) -> Any:
        """*Export table* / *Save CSV…*: the statistics of every tree node of ``segmentation_node``
        on the CT it was made on, as a table node the view shows (with ``path``, also that file).
        Returns the table node, or None after saying why there is none."""
        if segmentation_node is None:
            self.view.show_error(_("Choose a SALT segmentation first."))
            return None
        try:
            with self.view.busy():
                table = self.logic.exportStatisticsTable(segmentation_node, None, path)
        except Exception as error:  # noqa: BLE001 - MRML/VTK failures too: reported, never lost in a Qt slot
            self.view.show_error(_("Could not compute the statistics: {error}").format(error=error))
            return None
        self.view.show_table(table)
        rows = table.GetTable().GetNumberOfRows()
        self.feedback.status((_("Statistics of {rows} tree nodes in the table '{table}', and in {path}.") if path
                              else _("Statistics of {rows} tree nodes in the table '{table}'.")).format(
                                  rows=rows, table=table.GetName(), path=path))
        return table

    # ------------------------------------------------------------------ models (the model panel's actions)
    def refresh_models(self) -> None:
        """Read the model list and devices again (this computer's or the server's)."""
        self.model_list.refresh()

    def download_model(self, model_id: str) -> None:
        self.model_list.download(model_id)

    def install_model_from_file(self, path: str) -> None:
        self.model_list.install_from_file(path)

    def remove_model(self, model_id: str) -> None:
        self.model_list.remove(model_id)

    def cancel_task(self) -> None:
        self.tasks.cancel()

    @property
    def task(self) -> Optional[ProcessTask]:
        """The background process running (model list, transfer or install), None when none."""
        return self.tasks.task

    @property
    def task_kind(self) -> str:
        return self.tasks.kind

    @property
    def models(self) -> list[ModelChoice]:
        return self.model_list.models

    @property
    def models_folder(self) -> Optional[str]:
        return self.model_list.models_folder
