"""The module's one background process at a time, without Qt: reading the model list, a model
transfer (download, install from a file, delete) or an install (the engine's packages, PyTorch,
the faster CPU runtime), with its progress, log lines and Cancel. A transfer or install replaces
a model-list read; a second transfer or install is refused while one runs. The module controller
holds one (``controller.tasks``) and shares it with its helpers."""
from __future__ import annotations

from typing import Callable, Optional

from ..i18n import _
from ..processes.process_runner import ProcessRunner
from ..processes.process_task import ProcessTask
from .feedback import Feedback


class BackgroundTasks:
    def __init__(self, feedback: Feedback, runner_factory: Callable[[], ProcessRunner],
                 refresh_models: Callable[[], None], update_button: Callable[[], None]) -> None:
        self.feedback = feedback
        self.view = feedback.view
        self.runner_factory = runner_factory
        #: Called after every transfer or install: it may have changed the models or what can run.
        self._refresh_models = refresh_models
        self._update_button = update_button
        self.task: Optional[ProcessTask] = None
        self.kind = ""  # "list", "transfer" or "install"
        self._cleanup: Optional[Callable[[], None]] = None

    @property
    def busy(self) -> bool:
        return self.task is not None and not self.task.finished

    @property
    def installing(self) -> bool:
        """An install runs (segmenting waits for it)."""
        return self.busy and self.kind == "install"

    def start_quiet(self, task: ProcessTask, kind: str) -> None:
        """Start ``task`` without progress or status (the model list); its ``on_done`` calls
        :meth:`release`."""
        self.task, self.kind = task, kind
        task.start()

    def release(self) -> None:
        self.task = None

    def start(self, kind: str, commands, title: str, success: str,
              cleanup: Callable[[], None] = lambda: None, then: Optional[Callable[[], None]] = None) -> None:
        """Run ``commands`` one after the other with progress and Cancel, then say ``success`` and
        read the model list again; ``cleanup`` runs whatever the outcome (also when the module
        closes meanwhile), ``then`` only after a success."""
        feedback, running = self.feedback, self.task
        if running is not None and not running.finished:
            if self.kind != "list":
                cleanup()
                feedback.error(_("Another installation or download is still running."))
                return
            running.cancel()

        def done(task: ProcessTask) -> None:
            self._cleanup = None
            cleanup()
            if feedback.closed:
                return
            self.view.set_progress(False)
            if task.cancelled:
                feedback.status(_("Cancelled."))
            elif task.error is not None:
                feedback.error(task.error)
            else:
                feedback.status(success)
            self.task = None
            self._refresh_models()  # after any install, download or removal
            self._update_button()
            if then is not None and not task.cancelled and task.error is None:
                # e.g. segmenting after an install, which can ask Replace/New/Cancel: not inside the slot
                feedback.later(then)

        def progress(stage: str, fraction: float) -> None:
            if not feedback.closed:
                self.view.set_progress(True, int(100 * fraction), f"{title} %p%")

        def line(text: str) -> None:
            if feedback.closed:
                return
            feedback.log.add(kind, text)
            self.view.set_status(f"{title}\n{text[-200:]}")

        task = ProcessTask(commands, self.runner_factory, on_progress=progress, on_line=line, on_done=done)
        self.task, self.kind = task, kind
        self._cleanup = cleanup  # shutdown() cuts on_done but must still remove scratch files
        feedback.status(title)
        self.view.set_progress(True, 0, f"{title} %p%")
        task.start()
        self._update_button()

    def cancel(self) -> None:
        if self.task is not None:
            self.task.cancel()

    def shutdown(self) -> None:
        """The module closes: cancel the task without its follow-ups (no model-list refresh is
        started), but still remove its scratch files."""
        task, self.task = self.task, None
        if task is not None:
            task.on_done = None
            task.cancel()
        cleanup, self._cleanup = self._cleanup, None
        if cleanup is not None:
            cleanup()
