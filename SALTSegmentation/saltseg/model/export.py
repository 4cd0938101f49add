"""Write any torch network as a model in the official SALT export format.

SALT's own export traces ``Sequential(DynUNet, TreeSoftmax)`` and runs
``torch.jit.optimize_for_inference``; on the CPU that pass inserts MKL-DNN layout conversions that
cannot be loaded back, and on CUDA it bakes cuDNN-only fusions in. We trace and ``torch.jit.freeze``
instead: same file format, portable across devices (device literals are retargeted on load).
"""
from __future__ import annotations

import argparse
import logging
import warnings
from pathlib import Path
from typing import Any, Optional, Sequence, Union

import torch

from ..atomic import atomic_write
from ..tree.labeltree import LabelTree
from .model_io import CONFIG_FILE, MODEL_FILE, IntensityProperties
from .safe_pickle import dump_config_pickle
from ..tree.tree_softmax import TreeSoftmax

logger = logging.getLogger(__name__)


def build_config(
    tree: LabelTree,
    roi_size: Sequence[int],
    voxel_spacing: Sequence[float],
    intensity: Optional[IntensityProperties] = None,
    kernel_sizes: Optional[Sequence[Sequence[int]]] = None,
    strides: Optional[Sequence[Sequence[int]]] = None,
    args: Optional[argparse.Namespace] = None,
) -> dict[str, Any]:
    """The ``config.pkl`` dictionary exactly as SALT's training writes it."""
    return {
        "adjacency_matrix": tree.adjacency_matrix,
        "intensity_properties": (
            None if intensity is None else {"mean": float(intensity.mean), "std": float(intensity.std)}
        ),
        "label_names": list(tree.paths),
        "model": {
            "num_classes": len(tree),
            "kernel_sizes": [list(map(int, k)) for k in kernel_sizes] if kernel_sizes else None,
            "strides": [list(map(int, s)) for s in strides] if strides else None,
            "roi_size": tuple(int(v) for v in roi_size),
            "voxel_spacing": tuple(float(v) for v in voxel_spacing),
        },
        "args": args if args is not None else argparse.Namespace(exported_by="saltseg"),
    }


def export_model(
    network: torch.nn.Module,
    tree: LabelTree,
    output_dir: Union[str, Path],
    roi_size: Sequence[int],
    voxel_spacing: Sequence[float],
    intensity: Optional[IntensityProperties] = None,
    kernel_sizes: Optional[Sequence[Sequence[int]]] = None,
    strides: Optional[Sequence[Sequence[int]]] = None,
    args: Optional[argparse.Namespace] = None,
    outputs_probabilities: bool = False,
    trace_device: Union[str, torch.device] = "cpu",
) -> Path:
    """Trace ``network`` (logits ``[B, N, *roi]``, or probabilities when
    ``outputs_probabilities``) followed by :class:`TreeSoftmax`, freeze it and write
    ``model.pt`` + ``config.pkl`` into ``output_dir``. Returns ``output_dir``."""
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    device = torch.device(trace_device)
    exported = network if outputs_probabilities else torch.nn.Sequential(network, TreeSoftmax(tree))
    exported = exported.to(device).eval()
    example = torch.rand(1, 1, *[int(v) for v in roi_size], device=device)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        output = exported(example)
        if output.shape[1] != len(tree):
            raise ValueError(f"the network outputs {output.shape[1]} channels, the tree has {len(tree)} nodes")
        # check_trace=False: the default re-runs the network in float64 to compare, which costs
        # minutes and >10 GB for a full-size DynUNet; the output was checked above.
        frozen = torch.jit.freeze(torch.jit.trace(exported, example, check_trace=False))
    config = build_config(tree, roi_size, voxel_spacing, intensity, kernel_sizes, strides, args)
    atomic_write(output_dir / CONFIG_FILE, lambda tmp: tmp.write_bytes(dump_config_pickle(config)))
    atomic_write(output_dir / MODEL_FILE, lambda tmp: torch.jit.save(frozen, str(tmp)))
    logger.info("exported %d-node model to %s", len(tree), output_dir)
    return output_dir
