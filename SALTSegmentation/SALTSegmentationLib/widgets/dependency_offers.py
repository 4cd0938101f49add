"""The module's offers to install what segmenting needs — the engine's small packages, PyTorch
(light-the-torch in processes, see :mod:`..processes.torch_install`), the faster CPU runtime —
each pip run held to Slicer's own package versions by a constraints file. Qt-free: a part of
:class:`~.controller.ModuleController`, whose view, probe and background tasks it uses."""
from __future__ import annotations

from ..processes.pip_constraints import ConstraintsFolder
from ..processes.process_task import module_command
from ..processes.torch_install import light_the_torch_commands

#: Asked before the first CPU run when the faster CPU runtime is missing (measured speed-up:
#: saltseg.inference.backends.select.FAST_RUNTIME_SPEEDUP).
FAST_RUNTIME_QUESTION = ("Segmenting will run on the CPU. Install the faster CPU runtime first? It makes "
                         "segmenting up to twice as fast, depending on the processor (a download of about "
                         "60 MB, once; Slicer stays usable meanwhile, and segmenting starts when it is done).")


class DependencyOffers:
    """Mixed into :class:`~.controller.ModuleController` (which sets ``view``, ``probe``, ``python``,
    ``scratch_folder``, ``devices`` and runs ``_start_task``)."""

    def _dependencies_ready(self) -> bool:
        missing = self.probe.missing_packages()
        if missing:
            if not self.view.ask_yes_no(f"SALT needs these Python packages: {', '.join(missing)}. Install them now?"):
                return False
            with ConstraintsFolder(self.scratch_folder) as constraints:
                installed = self.view.install_packages(missing, str(constraints))
            self.refresh_models()  # the model list can be read once they are there
            if not installed:
                return False
        problem = self.probe.torch_problem()
        if problem is not None:
            if self.view.ask_yes_no(f"{problem} Install it now? This downloads 1-3 GB and may take several "
                                    "minutes."):
                self.install_torch()
            return False
        return True

    def install_torch(self) -> None:
        """light-the-torch in processes with progress and Cancel (Slicer's process never imports
        torch), held to Slicer's own package versions; then the model list is read again."""
        constraints = ConstraintsFolder(self.scratch_folder)
        self._start_task("install", light_the_torch_commands(self.python, constraints.path),
                         "Installing PyTorch…", "PyTorch is installed; press Segment.",
                         cleanup=constraints.remove)

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
        constraints = ConstraintsFolder(self.scratch_folder)  # held to Slicer's own numpy, SimpleITK, ...
        self._start_task("install", [module_command(self.python, "pip", "install", *self.fast_runtime_pip_args,
                                                    "-c", str(constraints.path))],
                         "Installing the faster CPU runtime…", "The faster CPU runtime is installed.",
                         cleanup=constraints.remove, then=self.on_segment_clicked if segment_after else None)
