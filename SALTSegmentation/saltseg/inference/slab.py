"""The slab: ``Σ_windows weight · p(leaf)`` for the ``rz`` slices one window deep.

It is stored ``[X, L, Y, rz]``, in the windows' own order (x, then y, then z innermost), so that a
chunk of whole x rows of a window — contiguous in the network's ``[K, rx, ry, rz]`` output — adds
to runs of ``ry · rz`` contiguous floats per leaf: no window is ever copied into another layout.
Moving on by ``step`` slices copies the unfinished ones forward, a block of x rows at a time.
(A ring of slices would move nothing, but with steps of half a window every other slab's windows
would wrap around it, and adding to two half-depth runs cost more than the copies: measured on
the 145-node tree, 1.20 against 1.03 CPU-s per window, and 0.08 CPU-s per move for the copies.)
"""
from __future__ import annotations

import torch


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
