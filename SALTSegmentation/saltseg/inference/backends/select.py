"""Choosing the runtime for the network cut out of ``model.pt`` (features or logits): torch or OpenVINO.

``auto`` uses OpenVINO on the CPU when it is installed and torch otherwise. Whatever was asked for, a runtime is used only after its logits on the probe window
match torch's (:func:`check_against_torch`); any failure — conversion, loading, mismatch — logs a
warning and leaves torch in charge, which is always correct, only slower.
"""
from __future__ import annotations

import logging
from typing import Callable, Optional, Protocol

import torch

from ...errors import ModelError
from ...model.logits import LogitsFunction
from ...model.model_io import SaltModel
from . import BACKEND_CHOICES
from .onnx_file import cached_network_onnx
from .runtimes import EXTRAS, RUNTIMES, is_installed

logger = logging.getLogger(__name__)

#: Tried in this order by ``auto``.
AUTO_ORDER = ("openvino",)
#: Largest |Δ logit| accepted, relative to the largest |logit| (float32 convolutions computed in
#: another order: 0.032 measured for logits up to ~40 on a random full-size DynUNet).
LOGIT_TOLERANCE = 2e-3
#: Fraction of probe voxels whose leaf label must agree with torch's (99.94 % measured on a
#: random full-size DynUNet, the hardest case; a wrong runtime gets far less).
LABEL_AGREEMENT = 0.999


class NetworkBackend(Protocol):
    name: str

    def run(self, windows: torch.Tensor) -> torch.Tensor:
        """``[B, 1, *roi]`` float32 windows → the cut's output ``[B, K, *roi]``."""


def check_requested(requested: str, device: torch.device) -> None:
    """Refuse an impossible ``--backend`` before any work."""
    if requested not in BACKEND_CHOICES:
        raise ModelError(f"unknown backend {requested!r}; choose one of {', '.join(BACKEND_CHOICES)}")
    if requested in RUNTIMES:
        if not is_installed(requested):
            raise ModelError(f"--backend {requested}: {requested} is not installed "
                             f"(pip install \"saltseg[{EXTRAS[requested]}]\")")
        if device.type != "cpu":
            raise ModelError(f"--backend {requested} runs on the CPU; use --device cpu or --backend torch")


def candidates(requested: str, device: torch.device) -> list[str]:
    if requested == "torch" or device.type != "cpu":
        return []
    if requested == "auto":
        return [name for name in AUTO_ORDER if is_installed(name)]
    return [requested]


def check_against_torch(backend: NetworkBackend, probe: torch.Tensor, reference_output: torch.Tensor,
                        to_logits: Callable[[torch.Tensor], torch.Tensor],
                        leaf_labels: Callable[[torch.Tensor], torch.Tensor]) -> tuple[bool, str]:
    """Run the backend on the probe: its logits (features go through the head) must match torch's, and
    so must the leaf labels ``leaf_labels`` derives from either output."""
    output = backend.run(probe)
    if output.shape != reference_output.shape:
        return False, f"shape {tuple(output.shape)} instead of {tuple(reference_output.shape)}"
    logits = to_logits(output.float())
    reference = to_logits(reference_output.float().cpu())
    difference = float((logits - reference).abs().max())
    scale = max(1.0, float(reference.abs().max()))
    agreement = float((leaf_labels(output.float()) == leaf_labels(reference_output.float().cpu())).float().mean())
    summary = f"max |Δ logit| {difference:.2g} (logits up to {scale:.3g}), leaf labels {100 * agreement:.3f} % equal"
    return difference <= LOGIT_TOLERANCE * scale and agreement >= LABEL_AGREEMENT, summary


def select_backend(requested: str, model: SaltModel, kind: str, function: LogitsFunction, probe: torch.Tensor,
                   reference_output: torch.Tensor, to_logits: Callable[[torch.Tensor], torch.Tensor],
                   leaf_labels: Callable[[torch.Tensor], torch.Tensor],
                   notes: Optional[list[str]] = None) -> Optional[NetworkBackend]:
    """The verified runtime to run ``function`` (the ``kind`` cut of the network) instead of
    torch, or None for torch."""
    notes = notes if notes is not None else []
    for name in candidates(requested, model.device):
        if model.source is None:
            break
        try:
            for refresh in (False, True):  # a cached file that fails is converted afresh once
                path = cached_network_onnx(model.source, kind, function, probe, refresh=refresh)
                try:
                    backend = RUNTIMES[name](path, torch.get_num_threads())
                    accepted, summary = check_against_torch(backend, probe, reference_output, to_logits,
                                                            leaf_labels)
                    break
                except Exception as error:  # noqa: BLE001  (runtimes raise their own types)
                    if refresh:
                        raise
                    logger.info("cached %s failed in %s (%s); converting again", path.name, name, error)
        except Exception as error:  # noqa: BLE001
            logger.warning("%s cannot run this network (%s: %s); using torch", name, type(error).__name__, error)
            notes.append(f"{name} failed: {type(error).__name__}")
            continue
        if accepted:
            logger.info("network runs on %s (%s)", name, summary)
            notes.append(f"{name} verified against torch ({summary})")
            return backend
        logger.warning("%s does not reproduce torch's logits (%s); using torch", name, summary)
        notes.append(f"{name} refused ({summary})")
    return None
