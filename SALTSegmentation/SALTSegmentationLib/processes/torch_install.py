"""The two ways the module installs PyTorch.

* **Through the PyTorch extension** (``EXTENSION_DEPENDS PyTorch``) when its ``PyTorchUtils``
  module is loaded: ``PyTorchUtilsLogic().installTorch(askConfirmation, forceComputationBackend,
  torchVersionRequirement, torchvisionVersionRequirement)`` (fepegar/SlicerPyTorch) runs
  light-the-torch as ``PythonSlicer -m light_the_torch install torch<req> torchvision`` — blocking —
  and then imports torch in Slicer's process and returns it (``None`` when the user declined).
  It has no constraints argument; its pip runs in a child process that inherits Slicer's
  environment, so ``PIP_CONSTRAINT`` carries the constraints to it.
* **The fallback**: ``pip install light-the-torch`` and ``light_the_torch install torch<req>`` as
  two commands of a :class:`~.process_task.ProcessTask` (non-blocking, with Cancel), each with
  ``-c constraints.txt``.
"""
from __future__ import annotations

import importlib
import logging
from pathlib import Path
from typing import Any, Optional

from .dependencies import TORCH_REQUIREMENT
from .pip_constraints import pip_constraint_environment
from .process_task import module_command

logger = logging.getLogger(__name__)

#: The version part of the requirement, the form ``installTorch(torchVersionRequirement=...)`` takes
#: (it appends it to ``"torch"``).
TORCH_VERSION_SPECIFIER = TORCH_REQUIREMENT[len("torch"):]
LIGHT_THE_TORCH_REQUIREMENT = "light-the-torch>=0.5"
PYTORCH_UTILS_MODULE = "PyTorchUtils"


def pytorch_utils_logic() -> Optional[Any]:
    """A ``PyTorchUtilsLogic`` of the PyTorch extension, or None when the extension is not
    installed (Slicer puts every loaded scripted module's folder on ``sys.path``)."""
    try:
        module = importlib.import_module(PYTORCH_UTILS_MODULE)
    except ImportError:
        return None
    logic_class = getattr(module, "PyTorchUtilsLogic", None)
    if logic_class is None or not hasattr(logic_class, "installTorch"):
        logger.warning("%s has no PyTorchUtilsLogic.installTorch: using light-the-torch directly", module)
        return None
    return logic_class()


def install_with_extension(logic: Any, constraints: Path) -> Optional[str]:
    """Install torch through the PyTorch extension; the installed version, or None when it did not
    install (the user declined in its dialog). Its exceptions (a failed pip) propagate."""
    with pip_constraint_environment(constraints):
        torch = logic.installTorch(askConfirmation=False, torchVersionRequirement=TORCH_VERSION_SPECIFIER)
    if torch is None:
        return None
    return str(getattr(torch, "__version__", "")) or "unknown"


def light_the_torch_commands(python: str, constraints: Path) -> list[list[str]]:
    """The fallback: light-the-torch installed with pip, then torch with light-the-torch (it picks the
    CUDA or CPU build for this machine), both run as processes and held to ``constraints``."""
    pin = ["-c", str(constraints)]
    return [module_command(python, "pip", "install", LIGHT_THE_TORCH_REQUIREMENT, *pin),
            module_command(python, "light_the_torch", "install", TORCH_REQUIREMENT, *pin)]
