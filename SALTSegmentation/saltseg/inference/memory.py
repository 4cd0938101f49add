"""Estimating the memory a run needs, so that an impossible run is refused before it starts."""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np
import torch

from ..errors import InsufficientMemoryError

GIB = 1024 ** 3
# Activations of a DynUNet-sized network per window voxel, in floats, on top of its N outputs;
# measured on the published architecture (32 filters at full resolution, residual blocks).
_NETWORK_FLOATS_PER_VOXEL = 160
# On the CPU, freed window-sized blocks stay in the heap while windows run (inference/allocator.py)
# and the heap fragments around them. Measured on the published architecture, 30-slice CT: peak RSS
# above the loaded model 2980-3570 MiB with torch, 3048 MiB with OpenVINO, against 3123 MiB
# estimated without this term; with it, 3987 MiB.
_RETAINED_HEAP_FLOATS_PER_VOXEL = 128


@dataclass(frozen=True)
class MemoryEstimate:
    host_bytes: int
    device_bytes: int  # on the compute device; 0 when it is the CPU (counted in host_bytes)

    def describe(self) -> str:
        text = f"{self.host_bytes / GIB:.1f} GiB of RAM"
        return text + (f" and {self.device_bytes / GIB:.1f} GiB of GPU memory" if self.device_bytes else "")


def estimate_memory(input_voxels: int, processing_shape: Sequence[int], roi_size: Sequence[int],
                    num_nodes: int, num_leaves: int, batch_size: int, device: torch.device,
                    maps: int = 0) -> MemoryEstimate:
    """``maps``: probability maps kept (:mod:`.node_probabilities`): 2 bytes per processing voxel
    each, and one at a time on the input grid when it is written (float32, then its file's copy)."""
    voxels = int(np.prod(processing_shape, dtype=np.int64))
    x, y, _ = [max(int(s), int(r)) for s, r in zip(processing_shape, roi_size)]
    roi_voxels = int(np.prod(roi_size, dtype=np.int64))
    # Input as float32 (cast + reoriented copy), resampled volume + network array (float32),
    # labels and connected-component scratch (uint8 + uint32).
    host = input_voxels * 8 + voxels * (4 + 4 + 2 + 4)
    if maps:
        host += maps * voxels * 2 + input_voxels * (4 + 4 + 1)
    slab = num_leaves * x * y * int(roi_size[2]) * 4
    # One batch of network output plus the network's activations; the tree softmax works on
    # cache-sized chunks (saltseg.inference.leaf_accumulation), not whole windows. The default
    # features path outputs only C channels, but a model that falls back to its logits or to
    # model.pt whole outputs N, so N is what the estimate promises to fit.
    windows = batch_size * roi_voxels * 4 * (num_nodes + _NETWORK_FLOATS_PER_VOXEL)
    if device.type == "cpu":
        retained = batch_size * roi_voxels * 4 * _RETAINED_HEAP_FLOATS_PER_VOXEL
        return MemoryEstimate(host + slab + windows + retained, 0)
    return MemoryEstimate(host, slab + windows)


def available_host_bytes() -> Optional[int]:
    """Memory the OS can give us now (Linux: MemAvailable; elsewhere physical pages or None)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    if sys.platform != "win32" and hasattr(os, "sysconf"):
        try:
            return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
        except (ValueError, OSError):
            return None
    return None


def available_device_bytes(device: torch.device) -> Optional[int]:
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free)
    return None


def check_memory(estimate: MemoryEstimate, device: torch.device,
                 host_limit: Optional[int] = None, device_limit: Optional[int] = None) -> None:
    """Raise :class:`InsufficientMemoryError` when the estimate exceeds what is available."""
    host_available = host_limit if host_limit is not None else available_host_bytes()
    if host_available is not None and estimate.host_bytes > host_available:
        raise InsufficientMemoryError(
            f"this volume needs about {estimate.host_bytes / GIB:.1f} GiB of RAM but only "
            f"{host_available / GIB:.1f} GiB is available; crop the image to the region of interest "
            "or use a machine with more memory"
        )
    device_available = device_limit if device_limit is not None else available_device_bytes(device)
    if estimate.device_bytes and device_available is not None and estimate.device_bytes > device_available:
        raise InsufficientMemoryError(
            f"this volume needs about {estimate.device_bytes / GIB:.1f} GiB of {device.type.upper()} "
            f"memory but only {device_available / GIB:.1f} GiB is free; use a window batch size of 1 "
            "or run on the CPU"
        )
