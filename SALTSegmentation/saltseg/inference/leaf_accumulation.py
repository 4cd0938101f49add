"""Adding one window's network output to the slab accumulator, a cache-sized chunk at a time.

Working on chunks of a few thousand voxels keeps the tree softmax's temporaries (``N × chunk``
floats, a few MB) in cache instead of allocating several full-window ``N``-channel tensors, which
is what dominated ``model.pt``'s time and memory. What a chunk becomes is the reducer's business
(:mod:`saltseg.inference.leaf_reducers`); this module cuts windows into chunks and runs them.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Optional, Protocol

import torch

from .slab import Slab

CPU_CHUNK_VOXELS = 16384  # 145 channels × 16384 × 4 B ≈ 9.5 MB of logits: stays in L3
GPU_CHUNK_VOXELS = 1 << 18  # fewer, larger kernels; still far below a window
#: Outputs with at most this many channels (the network's features) are reduced while the next
#: window's network runs (so they must stay valid until then); wider ones (N-channel logits or
#: probabilities, several times the size) before it, so that only one is ever held.
OVERLAPPED_MAX_CHANNELS = 64


class LeafReducer(Protocol):
    """``out[L, *spatial] += weight[V] · leaf probabilities of chunk[K, V]``, channels in the order
    of ``slab_nodes`` (the tree node of each slab channel)."""

    slab_nodes: list[int]
    kind: str  # "features", "logits" or "probabilities"
    input_channels: int

    def __call__(self, chunk: torch.Tensor, weight: torch.Tensor, out: torch.Tensor) -> None: ...


@dataclass
class NetworkOutput:
    """A batch of window outputs ``[B, K, *roi]`` and the reducer that turns them into leaves. A
    runtime that hands out its own buffers must keep them valid until the batch after next."""

    values: torch.Tensor
    reducer: LeafReducer


def chunk_voxels(device: torch.device) -> int:
    return CPU_CHUNK_VOXELS if device.type == "cpu" else GPU_CHUNK_VOXELS


def already_done() -> None:
    """The wait of work that is already done."""


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
        self.start(tasks)()

    def start(self, tasks: list[Callable[[], None]]) -> Callable[[], None]:
        """Start the tasks on the worker threads and return the wait for them (which raises what a
        task raised); without worker threads they run now."""
        if self._executor is not None:
            futures = [self._executor.submit(task) for task in tasks]

            def wait() -> None:
                for future in futures:
                    future.result()
            return wait
        previous = torch.get_num_threads()
        if self._single:
            torch.set_num_threads(1)
        try:
            for task in tasks:
                task()
        finally:
            torch.set_num_threads(previous)
        return already_done

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown()

    def __enter__(self) -> "ChunkWorkers":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class SlabAccumulator:
    """Adds windows' leaf probabilities to the slab, ``slab[x0 + i, c, y0 + j, z] += weights[i, j, z] ·
    p(leaf c | window[:, i, j, z])``, a chunk of whole x rows at a time on the workers.

    A window is ``[K, rx, ry, rz]``, read in place. Chunks write disjoint parts of the slab, so they
    run in parallel. The chunks of a narrow output keep running after :meth:`add` returns, so the
    next window's network can run meanwhile: the accumulator owns that wait, does it before its
    next window, and :meth:`wait` must be called before anyone else touches the slab.
    """

    def __init__(self, slab: Slab, weights: torch.Tensor, target_voxels: int,
                 workers: Optional[ChunkWorkers] = None) -> None:
        self.slab = slab
        self.weights = weights  # [rx, ry, rz]
        self.target_voxels = target_voxels
        self.workers = workers or ChunkWorkers(slab.values.device, 1)
        self._pending: Callable[[], None] = already_done

    def wait(self) -> None:
        """Return when every chunk added so far is in the slab (raises what a chunk raised)."""
        pending, self._pending = self._pending, already_done
        pending()

    def add(self, window: torch.Tensor, x0: int, y0: int, reducer: LeafReducer,
            kept: Optional[tuple[slice, slice, slice]] = None) -> None:
        """Add the window at ``(x0, y0)`` (``[K, rx, ry, rz]``; a narrow one must stay valid until
        the next :meth:`add` returns); only its ``kept`` part (x, y, z slices in window
        coordinates; default all) is reduced: labels are never read in the padding around the scan."""
        self.wait()  # the previous window's chunks may still be reading it
        spans = tuple(part.indices(size) for part, size in zip(kept or (slice(None),) * 3, window.shape[1:]))
        tasks = self._tasks(window, x0, y0, reducer, spans)
        if window.shape[0] <= OVERLAPPED_MAX_CHANNELS:
            self._pending = self.workers.start(tasks)
        else:
            self.workers.run(tasks)

    def add_background(self, x0: int, y0: int, channel: int) -> None:
        """What a perfect network answers for a window of air: certain ``channel``."""
        rx, ry, rz = self.weights.shape
        self.wait()
        self.slab.region(slice(x0, x0 + rx), slice(y0, y0 + ry), 0, rz)[channel].add_(self.weights)

    def _tasks(self, window: torch.Tensor, x0: int, y0: int, reducer: LeafReducer,
               spans: tuple) -> list[Callable[[], None]]:
        channels = window.shape[0]
        (x_lo, x_hi, _), (y_lo, y_hi, _), (z_lo, z_hi, _) = spans
        if x_lo >= x_hi or y_lo >= y_hi or z_lo >= z_hi:
            return []  # nothing of the scan in this window
        column = (y_hi - y_lo) * (z_hi - z_lo)
        # Whole x rows when one is smaller than a chunk (2 rows of 192 × 48 measured best), else
        # blocks of y rows.
        rows = max(1, round(self.target_voxels / max(column, 1)))
        y_block = y_hi - y_lo if column <= self.target_voxels else max(1, self.target_voxels // max(z_hi - z_lo, 1))
        slab, weights = self.slab, self.weights

        def task(x: int, x_stop: int, y: int, y_stop: int) -> Callable[[], None]:
            def run() -> None:
                chunk = window[:, x:x_stop, y:y_stop, z_lo:z_hi].reshape(channels, -1)
                reducer(chunk, weights[x:x_stop, y:y_stop, z_lo:z_hi].reshape(-1),
                        slab.region(slice(x0 + x, x0 + x_stop), slice(y0 + y, y0 + y_stop), z_lo, z_hi))
            return run

        return [task(x, min(x + rows, x_hi), y, min(y + y_block, y_hi))
                for x in range(x_lo, x_hi, rows) for y in range(y_lo, y_hi, y_block)]
