"""The module's offers to install what segmenting needs — the engine's small packages, PyTorch
(light-the-torch in processes, see :mod:`..processes.torch_install`), the faster CPU runtime —
each pip run held to Slicer's own package versions by a constraints file. Qt-free; the module's
:class:`~.controller.ModuleController` holds one (``controller.offers``) and gives it its view, its
dependency probe and its way of starting a background task."""
from __future__ import annotations

from typing import Any, Callable, Optional, Sequence

from ..processes.dependencies import FAST_RUNTIME_REQUIREMENTS, DependencyProbe
from ..processes.pip_constraints import ConstraintsFolder
from ..processes.process_task import module_command
from ..processes.torch_install import light_the_torch_commands
from ..i18n import _

#: Asked before the first CPU run when the faster CPU runtime is missing (measured speed-up:
#: saltseg.inference.backends.select.FAST_RUNTIME_SPEEDUP).
FAST_RUNTIME_QUESTION = _("Segmenting will run on the CPU. Install the faster CPU runtime first? It makes "
                           "segmenting up to twice as fast, depending on the processor (a download of about "
                           "60 MB, once; Slicer stays usable meanwhile, and segmenting starts when it is done).")


#: Starts a background task: (kind, commands, title, success text, cleanup, then).
StartTask = Callable[..., None]


class DependencyOffers:
    def __init__(self, view: Any, probe: DependencyProbe, python: str, scratch_folder: Optional[str],
                 start_task: StartTask, refresh_models: Callable[[], None],
                 devices: Callable[[], Sequence[dict]]) -> None:
        self.view = view
        self.probe = probe
        self.python = python
        #: Where the pip constraints files are written (None: the system's temp folder).
        self.scratch_folder = scratch_folder
        self._start_task = start_task
        self.refresh_models = refresh_models
        self._devices = devices
        #: pip's arguments for the faster CPU runtime (tests point them at a local package folder).
        self.fast_runtime_pip_args: Sequence[str] = FAST_RUNTIME_REQUIREMENTS
        self._fast_runtime_offered = False

    def ready(self) -> bool:
        """The engine's packages and PyTorch are there; otherwise offer them (False: not now)."""
        missing = self.probe.missing_packages()
        if missing:
            if not self.view.ask_yes_no(_("SALT needs these Python packages: {packages}. Install them now?")
                                        .format(packages=", ".join(missing))):
                return False
            with ConstraintsFolder(self.scratch_folder) as constraints:
                installed = self.view.install_packages(missing, str(constraints))
            self.refresh_models()  # the model list can be read once they are there
            if not installed:
                return False
        problem = self.probe.torch_problem()
        if problem is not None:
            if self.view.ask_yes_no(_("{problem} Install it now? This downloads 1-3 GB and may take several "
                                      "minutes.").format(problem=problem)):
                self.install_torch()
            return False
        return True

    def install_torch(self) -> None:
        """light-the-torch in processes with progress and Cancel (Slicer's process never imports
        torch), held to Slicer's own package versions; then the model list is read again."""
        constraints = ConstraintsFolder(self.scratch_folder)
        self._start_task("install", light_the_torch_commands(self.python, constraints.path),
                         _("Installing PyTorch…"), _("PyTorch is installed; press Segment."),
                         cleanup=constraints.remove)

    def runs_on_cpu(self, device: str) -> bool:
        """Whether a run on ``device`` ends up on the CPU (``auto`` does without a GPU)."""
        if device == "cpu":
            return True
        gpus = [d for d in self._devices() if d.get("name") not in ("auto", "cpu") and d.get("available", True)]
        return device == "auto" and not gpus

    def offer_fast_runtime(self, device: str, then: Callable[[], None]) -> bool:
        """On a CPU run without the faster CPU runtime, offer it once; True when its installation
        started (``then``, segmenting, runs when it is done)."""
        if self._fast_runtime_offered or not self.runs_on_cpu(device) or self.probe.fast_runtime_installed():
            return False
        self._fast_runtime_offered = True  # asked once per session, whatever the answer or outcome
        if not self.view.ask_yes_no(FAST_RUNTIME_QUESTION):
            return False
        self.install_fast_runtime(then=then)
        return True

    def install_fast_runtime(self, then: Optional[Callable[[], None]] = None) -> None:
        """pip in a process (progress and Cancel like the PyTorch install), then ``then`` (segmenting
        with the settings shown at that time)."""
        constraints = ConstraintsFolder(self.scratch_folder)  # held to Slicer's own numpy, SimpleITK, ...
        self._start_task("install", [module_command(self.python, "pip", "install", *self.fast_runtime_pip_args,
                                                    "-c", str(constraints.path))],
                         _("Installing the faster CPU runtime…"), _("The faster CPU runtime is installed."),
                         cleanup=constraints.remove, then=then)
