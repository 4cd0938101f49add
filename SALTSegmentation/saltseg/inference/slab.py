"""The slab: ``Σ_windows weight · p(leaf)`` for the ``rz`` slices one window deep.

It is stored ``[X, L, Y, rz]``, in the windows' own order (x, then y, then z innermost), so that a
chunk of whole x rows of a window — contiguous in the network's ``[K, rx, ry, rz]`` output — adds
to runs of ``ry · rz`` contiguous floats per leaf: no window is ever copied into another layout.
Moving on by ``step`` slices copies the unfinished ones forward, a block of x rows at a time.
(A ring of slices would move nothing, but with steps of half a window every other slab's windows
would wrap around it, and adding to two half-depth runs cost more than the copies: measured on
the 145-node tree, 1.20 against 1.03 CPU-s per window, and 0.08 CPU-s per move for the copies.)
Finished slices become labels with :func:`leaf_argmax`.
"""
from __future__ import annotations

from typing import Optional

import torch

#: Voxels labelled at once: their leaves' scores in label order (114 × 2048 floats, 0.9 MB) stay in
#: the core's cache between the copy and the maximum. Blocks of 4 x rows (9 MB) went through memory
#: and took 1.5× the CPU time in a run (Zen 4 EPYC, 145-node tree).
LABEL_BLOCK_VOXELS = 2048


class Slab:
    def __init__(self, size_x: int, leaves: int, size_y: int, depth: int, device: torch.device) -> None:
        self.values = torch.zeros((size_x, leaves, size_y, depth), dtype=torch.float32, device=device)
        self.depth = depth

    def region(self, xs: slice, ys: slice, start: int, stop: int) -> torch.Tensor:
        """Where ``[L, x, y, z]`` values for slices ``[start, stop)`` are added (a view)."""
        return self.values[xs, :, ys, start:stop].permute(1, 0, 2, 3)

    def move_on(self, xs: slice, step: int, cleared: int) -> None:
        """For rows ``xs``: slice ``z`` becomes ``z - step``, then the last ``cleared`` slices are zero."""
        block, depth = self.values[xs], self.depth
        kept = depth - step
        if kept > 0:
            if step >= kept:  # disjoint slices: no element is both read and written
                _copy_slices(block[..., :kept], block[..., step:])
            else:
                block[..., :kept].copy_(block[..., step:].clone())
        block[..., depth - cleared:].zero_()


def _copy_slices(target: torch.Tensor, source: torch.Tensor) -> None:
    """``target.copy_(source)`` for two views of one tensor that share no element; via a copy if
    torch refuses them (it checks only whether their memory ranges overlap where it can tell)."""
    try:
        target.copy_(source)
    except RuntimeError:
        target.copy_(source.clone())


def leaf_argmax(scores: torch.Tensor, label_channels: Optional[torch.Tensor], out: torch.Tensor) -> None:
    """``out[x, y, z]`` = the label of the largest of ``scores[x, :, y, z]`` (``[x, L, y, z]``, slab
    channels; ``label_channels``: the slab channel of each label, None: the same order). The maximum
    is taken in label order, so ties go to the first label, as SALT's argmax gives them. On the
    CPU, in blocks of rows whose copy stays in cache."""
    size_x, leaves, size_y, size_z = scores.shape
    if scores.device.type != "cpu":
        ordered = scores if label_channels is None else scores.index_select(1, label_channels)
        out.copy_(torch.max(ordered, dim=1).indices)  # max(dim).indices: the first maximum, like argmax
        return
    rows = max(1, LABEL_BLOCK_VOXELS // max(size_z, 1))
    buffer = torch.empty(leaves * min(rows, size_y) * size_z, dtype=scores.dtype)
    for x in range(size_x):
        for y in range(0, size_y, rows):
            block = scores[x:x + 1, :, y:y + rows]
            if label_channels is not None:
                ordered = buffer[:block.numel()].view(block.shape)
                torch.index_select(block, 1, label_channels, out=ordered)
                block = ordered
            out[x, y:y + rows] = torch.max(block, dim=1).indices[0]  # the first maximum, ~2× argmax's speed
