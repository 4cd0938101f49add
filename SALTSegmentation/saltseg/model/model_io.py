"""Loading models in the official SALT export format: ``model.pt`` + ``config.pkl``.

``model.pt`` is TorchScript of ``Sequential(DynUNet, TreeSoftmax)``: it maps a
``[B, 1, *roi_size]`` intensity-normalised window to propagated node probabilities
``[B, N, *roi_size]``. ``config.pkl`` holds ``adjacency_matrix``, ``label_names``,
``intensity_properties`` (None or ``{"mean", "std"}``), ``model`` (``num_classes``,
``kernel_sizes``, ``strides``, ``roi_size``, ``voxel_spacing``) and the training ``args``.
"""
from __future__ import annotations

import logging
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Union

import torch

from ..devices import resolve_device
from ..errors import ModelError, TreeError
from ..tree.labeltree import LabelTree
from .run_defaults import RunDefaults, read_run_defaults
from .safe_pickle import load_config_pickle
from .torchscript_devices import (
    GraphDeviceReport,
    check_runnable_on,
    inspect_graph,
    retarget_device_literals,
)

logger = logging.getLogger(__name__)

MODEL_FILE = "model.pt"
CONFIG_FILE = "config.pkl"


@dataclass(frozen=True)
class IntensityProperties:
    """Dataset intensity statistics; when present, inputs are clipped to [-1024, 3071] HU and
    z-scored with them (SALT's ``NormalizeIntensityd``)."""

    mean: float
    std: float


@dataclass(frozen=True)
class ModelConfig:
    tree: LabelTree
    roi_size: tuple[int, int, int]
    voxel_spacing: tuple[float, float, float]
    intensity: Optional[IntensityProperties]
    kernel_sizes: Optional[list] = None
    strides: Optional[list] = None
    extra: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def num_classes(self) -> int:
        return len(self.tree)

    @property
    def background_intensity(self) -> float:
        """Normalised value of air (-1024 HU): the padding value outside the image."""
        if self.intensity is None:
            return 0.0
        return (-1024.0 - self.intensity.mean) / self.intensity.std


def check_model_dir(model_dir: Union[str, Path]) -> tuple[Path, Path]:
    """Return ``(model.pt, config.pkl)`` of a model folder, or raise a :class:`ModelError`
    saying which file is missing or empty (e.g. a truncated copy)."""
    folder = Path(model_dir)
    if not folder.is_dir():
        raise ModelError(f"model folder {folder} does not exist")
    files = (folder / MODEL_FILE, folder / CONFIG_FILE)
    for file in files:
        if not file.is_file():
            raise ModelError(f"model folder {folder} has no {file.name}")
        if file.stat().st_size == 0:
            raise ModelError(f"{file} is empty (interrupted download or copy?)")
    return files


def _require(mapping: Any, key: str, where: str) -> Any:
    if not isinstance(mapping, dict) or key not in mapping:
        raise ModelError(f"config.pkl has no '{where}{key}' entry")
    return mapping[key]


def _triple(value: Any, name: str, kind: type) -> tuple:
    try:
        items = tuple(kind(v) for v in value)
    except (TypeError, ValueError):
        raise ModelError(f"config.pkl: model.{name} must be three numbers, got {value!r}") from None
    if len(items) != 3 or any(v <= 0 for v in items):
        raise ModelError(f"config.pkl: model.{name} must be three positive numbers, got {value!r}")
    return items


def parse_config(raw: Any) -> ModelConfig:
    """Validate an unpickled ``config.pkl`` and turn it into a :class:`ModelConfig`."""
    if not isinstance(raw, dict):
        raise ModelError(f"config.pkl holds a {type(raw).__name__}, expected a dict")
    model = _require(raw, "model", "")
    try:
        tree = LabelTree.from_config(_require(raw, "label_names", ""), _require(raw, "adjacency_matrix", ""))
    except TreeError as error:
        raise ModelError(f"config.pkl: invalid label tree: {error}") from error
    num_classes = int(_require(model, "num_classes", "model."))
    if num_classes != len(tree):
        raise ModelError(
            f"config.pkl: model.num_classes is {num_classes} but the label tree has {len(tree)} nodes"
        )
    intensity = raw.get("intensity_properties")
    if intensity is not None:
        mean, std = (getattr(intensity, "mean", None), getattr(intensity, "std", None))
        if isinstance(intensity, dict):
            mean, std = intensity.get("mean"), intensity.get("std")
        if mean is None or std is None or not float(std) > 0:
            raise ModelError(f"config.pkl: intensity_properties must hold mean and std > 0, got {intensity!r}")
        intensity = IntensityProperties(float(mean), float(std))
    return ModelConfig(
        tree=tree,
        roi_size=_triple(_require(model, "roi_size", "model."), "roi_size", int),
        voxel_spacing=_triple(_require(model, "voxel_spacing", "model."), "voxel_spacing", float),
        intensity=intensity,
        kernel_sizes=model.get("kernel_sizes"),
        strides=model.get("strides"),
        extra={k: v for k, v in raw.items() if k not in ("model", "label_names", "adjacency_matrix")},
    )


def read_config(path: Union[str, Path]) -> ModelConfig:
    path = Path(path)
    try:
        with path.open("rb") as stream:
            raw = load_config_pickle(stream)
    except OSError as error:
        raise ModelError(f"cannot read {path}: {error.strerror}") from error
    except ModelError:
        raise
    except Exception as error:  # truncated or corrupt pickles raise many types
        raise ModelError(f"{path} is not a valid config.pkl ({type(error).__name__}: {error})") from error
    return parse_config(raw)


@dataclass
class SaltModel:
    """A loaded model, ready to run windows on ``device``."""

    network: torch.nn.Module
    config: ModelConfig
    device: torch.device
    source: Optional[Path] = None
    graph_report: GraphDeviceReport = field(default_factory=GraphDeviceReport)
    #: how the model was certified to run (``inference.json`` beside it; SALT's defaults without)
    run_defaults: RunDefaults = field(default_factory=RunDefaults)

    @property
    def tree(self) -> LabelTree:
        return self.config.tree

    def to(self, device: Union[str, torch.device]) -> "SaltModel":
        """Reload on another device (TorchScript constants cannot move after the first call)."""
        if self.source is None:
            raise ModelError("only models loaded from a folder can be moved to another device")
        return load_model(self.source, device)


def load_torchscript(path: Path, device: torch.device) -> tuple[torch.jit.ScriptModule, GraphDeviceReport]:
    try:
        module = torch.jit.load(str(path), map_location=device)
    except (RuntimeError, ValueError, zipfile.BadZipFile) as error:
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        if "required keyword attribute 'value'" in message:
            raise ModelError(
                f"{path} was saved after torch.jit.optimize_for_inference on the CPU, whose MKL-DNN "
                "constants PyTorch cannot load back; re-export it with trace + torch.jit.freeze "
                "(saltseg.model.export.export_model)"
            ) from error
        raise ModelError(
            f"{path} is not a loadable TorchScript model (truncated or corrupt file, or saved by "
            f"an incompatible PyTorch): {message}"
        ) from error
    report = inspect_graph(module)
    check_runnable_on(report, device)
    changed = retarget_device_literals(module, device)
    if changed:
        logger.info(
            "model.pt was traced on %s; moved %d device constant(s) to %s",
            ", ".join(sorted(report.device_literals)), changed, device,
        )
    module.eval()
    return module, report


def load_model(model_dir: Union[str, Path], device: Union[str, torch.device] = "auto") -> SaltModel:
    """Load an official-format model folder onto ``device`` (``auto``: CUDA → MPS → CPU)."""
    model_file, config_file = check_model_dir(model_dir)
    config = read_config(config_file)
    run_defaults = read_run_defaults(model_dir)
    target = resolve_device(device)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        network, report = load_torchscript(model_file, target)
    return SaltModel(network, config, target, Path(model_dir), report, run_defaults)
