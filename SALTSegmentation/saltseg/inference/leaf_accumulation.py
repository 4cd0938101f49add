"""Adding one window's network output to the slab accumulator, a cache-sized chunk at a time.

The network (or the whole ``model.pt``) gives ``N`` channels per voxel; only the leaves are
blended. Working on chunks of a few thousand voxels keeps the tree softmax's temporaries
(``N × chunk`` floats, ~2 MB on the CPU) in cache instead of allocating several full-window
``N``-channel tensors, which is what dominated ``model.pt``'s time and memory.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Optional

import torch

from ..tree.labeltree import LabelTree

#: ``[N, V]`` network output of V voxels and ``[V]`` blending weights → ``[L, V]`` float32 leaf
#: probabilities times the weights.
LeafFunction = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

CPU_CHUNK_VOXELS = 16384  # 145 channels × 16384 × 4 B ≈ 9.5 MB: stays in L3
GPU_CHUNK_VOXELS = 1 << 18  # fewer, larger kernels; still far below a window


@dataclass
class NetworkOutput:
    """A batch of window outputs ``[B, N, *roi]`` and how to turn a chunk of it into leaves."""

    values: torch.Tensor
    leaf_probabilities: LeafFunction
    logits: bool  # True: raw network logits (tree softmax applied here); False: model.pt's probabilities


def leaves_of_probabilities(leaves: torch.Tensor) -> LeafFunction:
    """For outputs that already are tree-softmax probabilities: select the leaf channels."""
    def select(chunk: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        return chunk.index_select(0, leaves.to(chunk.device)).float().mul_(weight)
    return select


class LeafProbabilities:
    """Tree softmax for the leaves of a ``[N, V]`` chunk of logits.

    Channels are reordered so that sibling groups of equal size form one ``[groups, size, V]``
    block: per block one max, one exp, one sum and one division over contiguous memory give
    ``p(node | parent)`` (stable: each group's own max). Path products are built top-down for the few internal nodes only; a
    leaf's probability is its own conditional times its parent's path product — two row gathers
    for all leaves. This is SALT's own formulation (products of conditional probabilities), with
    no scatter operations and no full-window temporaries (checked in the tests against
    :class:`saltseg.tree.tree_softmax.TreeSoftmax`).
    """

    def __init__(self, tree: LabelTree, device: torch.device) -> None:
        # Groups sorted by size, so all groups of one size form one block [count, size, V]:
        # ~10 blocks instead of ~30 groups (17 of the published tree's 32 groups have 2 members).
        groups = sorted(tree.sibling_groups, key=len)
        order = [node for group in groups for node in group]
        position = {node: i for i, node in enumerate(order)}
        self.order = torch.as_tensor(order, dtype=torch.long, device=device)
        self.blocks, start = [], 0  # (first row, number of groups, group size)
        for size in sorted({len(group) for group in groups}):
            count = sum(1 for group in groups if len(group) == size)
            self.blocks.append((start, count, size))
            start += count * size
        leaves = set(tree.leaves)
        internal = [n for n in tree.topological_order() if n not in leaves]  # parents first
        slot = {node: i for i, node in enumerate(internal)}
        root = len(internal)  # a row of ones: the parent of the top level
        # Internal path products level by level: (rows to fill, their conditionals, their parents' rows).
        self.levels = []
        for depth in sorted({tree.depth(n) for n in internal}):
            nodes = [n for n in internal if tree.depth(n) == depth]
            parents = [slot[tree.parent(n)] if tree.parent(n) is not None else root for n in nodes]
            self.levels.append(tuple(torch.as_tensor(v, dtype=torch.long, device=device) for v in
                                     ([slot[n] for n in nodes], [position[n] for n in nodes], parents)))
        self.num_internal = len(internal)
        self.leaf_rows = torch.as_tensor([position[n] for n in tree.leaves], dtype=torch.long, device=device)
        self.leaf_parents = torch.as_tensor(
            [slot[tree.parent(n)] if tree.parent(n) is not None else root for n in tree.leaves],
            dtype=torch.long, device=device)

    def __call__(self, chunk: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        conditional = chunk.float().index_select(0, self.order)
        for start, count, size in self.blocks:
            block = conditional[start:start + count * size].view(count, size, -1)
            block.sub_(block.amax(dim=1, keepdim=True)).exp_()
            block.div_(block.sum(dim=1, keepdim=True))
        paths = torch.ones((self.num_internal + 1, conditional.shape[1]), dtype=torch.float32,
                           device=conditional.device)
        for rows, own, parents in self.levels:
            paths[rows] = conditional.index_select(0, own) * paths.index_select(0, parents)
        paths.mul_(weight)  # the blending weight rides on the ~30 parent rows, not the ~110 leaves
        result = conditional.index_select(0, self.leaf_rows)
        return result.mul_(paths.index_select(0, self.leaf_parents))


def leaves_of_logits(tree: LabelTree, device: torch.device) -> LeafFunction:
    """For raw logits: leaf probabilities by the tree softmax, chunk by chunk."""
    return LeafProbabilities(tree, device)


def chunk_voxels(device: torch.device) -> int:
    return CPU_CHUNK_VOXELS if device.type == "cpu" else GPU_CHUNK_VOXELS


class ChunkWorkers:
    """Threads that reduce a window's chunks in parallel, each running torch single-threaded.

    A window is ~100 chunks × ~200 small operations. Letting every operation spread over torch's
    intra-op threads made each one wait for all of them, which on a busy machine (threads
    descheduled) was slower than one thread; one chunk per thread keeps the cores busy instead.
    On a GPU everything runs on the calling thread (kernels are asynchronous anyway).
    """

    def __init__(self, device: torch.device, threads: Optional[int] = None) -> None:
        count = (threads or torch.get_num_threads()) if device.type == "cpu" else 1
        self._executor = (ThreadPoolExecutor(count, thread_name_prefix="saltseg-chunks",
                                             initializer=torch.set_num_threads, initargs=(1,))
                          if count > 1 else None)
        self._single = device.type == "cpu"

    def run(self, tasks: list[Callable[[], None]]) -> None:
        if self._executor is not None:
            for future in [self._executor.submit(task) for task in tasks]:
                future.result()
            return
        previous = torch.get_num_threads()
        if self._single:
            torch.set_num_threads(1)
        try:
            for task in tasks:
                task()
        finally:
            torch.set_num_threads(previous)

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown()

    def __enter__(self) -> "ChunkWorkers":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def accumulate_window(slab: torch.Tensor, window: torch.Tensor, weight: torch.Tensor,
                      x0: int, y0: int, leaf_function: LeafFunction, target_voxels: int,
                      workers: Optional[ChunkWorkers] = None) -> None:
    """``slab[z, leaf, x0 + i, y0 + j] += leaves(window)[leaf, i, j, z] · weight[i, j, z]``.

    ``slab`` is ``[rz, L, X, Y]`` (z first, so finishing and shifting slices are contiguous);
    ``window`` is ``[N, rx, ry, rz]``; chunks are whole z-columns so they read the window's memory
    in order, and write disjoint parts of the slab (so they can run in parallel).
    """
    channels, rx, ry, rz = window.shape
    column = ry * rz
    rows = max(1, target_voxels // column)  # x rows per chunk when one row is small
    y_block = ry if rows > 1 else max(1, min(ry, target_voxels // rz))

    def task(x: int, x_stop: int, y: int, y_stop: int) -> Callable[[], None]:
        def run() -> None:
            chunk = window[:, x:x_stop, y:y_stop, :]
            shape = chunk.shape[1:]
            leaf = leaf_function(chunk.reshape(channels, -1), weight[x:x_stop, y:y_stop, :].reshape(-1))
            slab[:, :, x0 + x:x0 + x_stop, y0 + y:y0 + y_stop].add_(leaf.view(-1, *shape).permute(3, 0, 1, 2))
        return run

    tasks = [task(x, min(x + rows, rx), y, min(y + y_block, ry))
             for x in range(0, rx, rows) for y in range(0, ry, y_block)]
    (workers or ChunkWorkers(window.device, 1)).run(tasks)
