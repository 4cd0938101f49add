"""Choosing the compute device: ``auto`` prefers CUDA, then Apple MPS, then the CPU."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch

from .device_names import DEVICE_CHOICES
from .errors import DeviceError

__all__ = ["DEVICE_CHOICES", "DeviceAvailability", "is_out_of_memory", "resolve_device"]


@dataclass(frozen=True)
class DeviceAvailability:
    name: str
    available: bool
    reason: str  # why it is unavailable, empty when available


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def device_availability() -> list[DeviceAvailability]:
    """Every device choice with a human-readable reason when it cannot be used (for UIs)."""
    cuda_reason = ""
    if not torch.cuda.is_available():
        cuda_reason = (
            "this PyTorch build has no CUDA support" if torch.version.cuda is None
            else "no CUDA GPU was found (check the NVIDIA driver)"
        )
    mps_reason = "" if _mps_available() else "Apple Metal (MPS) is only available on Apple silicon macOS"
    return [
        DeviceAvailability("auto", True, ""),
        DeviceAvailability("cuda", not cuda_reason, cuda_reason),
        DeviceAvailability("mps", not mps_reason, mps_reason),
        DeviceAvailability("cpu", True, ""),
    ]


def resolve_device(requested: Optional[str | torch.device] = "auto") -> torch.device:
    """Turn ``auto``/``cpu``/``cuda``/``cuda:N``/``mps`` into an available ``torch.device``."""
    if isinstance(requested, torch.device):
        requested = str(requested)
    name = (requested or "auto").strip().lower()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise DeviceError(f"unknown device {requested!r}; choose one of {', '.join(DEVICE_CHOICES)}") from None
    reasons = {d.name: d.reason for d in device_availability()}
    if device.type in ("cuda", "mps") and reasons[device.type]:
        raise DeviceError(f"device {name!r} is not available: {reasons[device.type]}; choose the CPU "
                          "device instead (--device cpu)")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise DeviceError(
            f"device {name!r} does not exist: {torch.cuda.device_count()} CUDA device(s) found"
        )
    if device.type not in ("cpu", "cuda", "mps"):
        raise DeviceError(f"unsupported device {requested!r}; choose one of {', '.join(DEVICE_CHOICES)}")
    return device


def is_out_of_memory(error: BaseException) -> bool:
    """True for CUDA/MPS out-of-memory errors, which torch raises under several types."""
    if isinstance(error, getattr(torch, "OutOfMemoryError", ())):
        return True
    text = str(error).lower()
    return "out of memory" in text or "mps backend out of memory" in text
