"""What the engine needs in Slicer's Python, checked without importing it (torch must never be
imported in Slicer's process): packages are looked up with ``importlib`` and versions read from
their metadata."""
from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import re
from typing import Optional

#: Engine packages besides torch that Slicer's Python may lack (import name → pip requirement).
PURE_PYTHON_PACKAGES = {"platformdirs": "platformdirs>=3", "tqdm": "tqdm>=4.60", "scipy": "scipy>=1.9"}
#: The faster CPU runtime (pyproject's ``openvino`` extra): OpenVINO and the ONNX exporter's package.
FAST_RUNTIME_MODULES = ("openvino", "onnx")
FAST_RUNTIME_REQUIREMENTS = ("openvino>=2024.0", "onnx>=1.15")
MINIMUM_TORCH = (2, 1)
TORCH_REQUIREMENT = "torch>=2.1"


def _version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", text.split("+")[0])[:3])


class DependencyProbe:
    def missing_packages(self) -> list[str]:
        """pip requirements of the pure-Python packages that are not installed."""
        importlib.invalidate_caches()  # a pip install in this session must be seen
        return [requirement for name, requirement in PURE_PYTHON_PACKAGES.items()
                if importlib.util.find_spec(name) is None]

    def torch_version(self) -> Optional[str]:
        """The installed torch version, or None (read from its metadata, not by importing it)."""
        importlib.invalidate_caches()
        if importlib.util.find_spec("torch") is None:
            return None
        try:
            return importlib.metadata.version("torch")
        except importlib.metadata.PackageNotFoundError:
            return "0"

    def torch_problem(self) -> Optional[str]:
        """Why the engine cannot run with this torch, or None when it can."""
        version = self.torch_version()
        if version is None:
            return "SALT needs PyTorch, which is not installed yet."
        if _version_tuple(version) < MINIMUM_TORCH:
            return (f"SALT needs PyTorch {'.'.join(map(str, MINIMUM_TORCH))} or newer; "
                    f"this Slicer has PyTorch {version}.")
        return None

    def fast_runtime_installed(self) -> bool:
        """Whether the faster CPU runtime is there (looked up, not imported)."""
        importlib.invalidate_caches()
        return all(importlib.util.find_spec(name) is not None for name in FAST_RUNTIME_MODULES)

    def state(self) -> tuple:
        """Changes whenever something relevant was installed (e.g. PyTorch from the PyTorch module)."""
        return (self.torch_version(), tuple(self.missing_packages()))
