"""A hand-written intensity-threshold "model" in the official format.

It is not a trained network and does not segment anatomy: it labels air, fat, soft tissue and bone
by Hounsfield ranges, routed to tree leaves. It exists so that the whole pipeline (export, loading,
preprocessing, sliding windows, tree softmax, post-processing, writing) can be exercised and
checked voxel for voxel without downloaded weights: a correct pipeline must put the "bone" label
exactly where the input is brighter than 300 HU, whatever the image orientation.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence, Union

import torch
from torch import nn

from .export import export_model
from ..tree.labeltree import LabelTree

#: (lower HU bound, node path) — a voxel goes to the last rule whose bound it exceeds.
DEFAULT_RULES: tuple[tuple[float, str], ...] = (
    (-10000.0, "background"),
    (-500.0, "body,subcutaneous_tissue"),
    (0.0, "body,muscles,other"),
    (300.0, "body,bones,other"),
)


class ThresholdNetwork(nn.Module):
    """Maps a normalised CT window to tree logits: +``scale`` on every node of the path of the
    intensity class each voxel falls in (smooth steps, so partial volumes blend)."""

    thresholds: torch.Tensor  # buffers (register_buffer), declared for the type checker
    membership: torch.Tensor

    def __init__(self, tree: LabelTree, rules: Sequence[tuple[float, str]] = DEFAULT_RULES,
                 scale: float = 20.0, sharpness: float = 400.0) -> None:
        super().__init__()
        thresholds = [(hu + 1024.0) / 2048.0 for hu, _ in rules]  # [-1024, 1024] → [0, 1]
        membership = torch.zeros(len(rules), len(tree))
        for k, (_, path) in enumerate(rules):
            node = tree.index(path)
            membership[k, list(tree.ancestors(node)) + [node]] = 1.0
        self.register_buffer("thresholds", torch.tensor(thresholds[1:]).view(1, -1, 1, 1, 1))
        self.register_buffer("membership", membership)
        self.scale = scale
        self.sharpness = sharpness

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        above = torch.sigmoid((x - self.thresholds) * self.sharpness)  # [B, K-1, ...]
        ones = torch.ones_like(x)
        upper = torch.cat([ones, above], dim=1)
        lower = torch.cat([above, torch.zeros_like(x)], dim=1)
        classes = upper - lower  # soft one-hot over the K intensity classes
        logits = torch.einsum("bk...,kn->bn...", classes, self.membership)
        return logits * self.scale


def export_threshold_model(output_dir: Union[str, Path], tree: LabelTree,
                           roi_size: Sequence[int] = (64, 64, 32),
                           voxel_spacing: Sequence[float] = (3.0, 3.0, 3.0),
                           rules: Optional[Sequence[tuple[float, str]]] = None) -> Path:
    network = ThresholdNetwork(tree, rules or DEFAULT_RULES)
    return export_model(network, tree, output_dir, roi_size, voxel_spacing)
