"""How the module installs PyTorch: light-the-torch in processes of Slicer's Python, never in
Slicer's own process.

``pip install light-the-torch`` then ``light_the_torch install torch<req>``, two commands of a
:class:`~.process_task.ProcessTask` (non-blocking, with progress in the status line and Cancel),
each held to Slicer's own package versions with ``-c constraints.txt``.

The PyTorch extension's ``PyTorchUtilsLogic().installTorch`` (fepegar/SlicerPyTorch) is not
called, although the extension is this one's dependency: it runs the same light-the-torch
install, but blocking Slicer for minutes, it always adds torchvision (which the engine does not
use), and it ends with ``import torch`` in Slicer's process, so torch's libraries stay loaded
there — on Windows locked until Slicer restarts, so a later reinstall or upgrade fails — against
this module's rule that only the engine process imports torch. The index is chosen the same way:
called as the module called it (no ``forceComputationBackend``), the extension lets light-the-torch
pick the CUDA or CPU build from the installed NVIDIA driver, which is what the command below does.
A build chosen by hand in the *PyTorch* module's own panel is noticed when the user comes back
(the model and device lists are read again).
"""
from __future__ import annotations

from pathlib import Path

from .dependencies import TORCH_REQUIREMENT
from .process_task import module_command

LIGHT_THE_TORCH_REQUIREMENT = "light-the-torch>=0.5"


def light_the_torch_commands(python: str, constraints: Path) -> list[list[str]]:
    """light-the-torch installed with pip, then torch with light-the-torch (it picks the CUDA or CPU
    build for this machine), both run as processes and held to ``constraints``."""
    pin = ["-c", str(constraints)]
    return [module_command(python, "pip", "install", LIGHT_THE_TORCH_REQUIREMENT, *pin),
            module_command(python, "light_the_torch", "install", TORCH_REQUIREMENT, *pin)]
