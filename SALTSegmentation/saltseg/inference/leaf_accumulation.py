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

CPU_CHUNK_VOXELS = 16384  # 145 channels × 16384 × 4 B ≈ 9.5 MB of logits: stays in L3
GPU_CHUNK_VOXELS = 1 << 18  # fewer, larger kernels; still far below a window
#: Outputs with at most this many channels (the network's features) are transposed to z-first
#: once per window, so each chunk is a run of whole slab rows; wider outputs (N-channel logits or
#: probabilities) are read in place, in x rows, and added to a transposed view of the slab.
ZFIRST_MAX_CHANNELS = 64


class LeafReducer(Protocol):
    """``out[L, *spatial] += weight[V] · leaf probabilities of chunk[K, V]``, channels in the order
    of ``slab_nodes`` (the tree node of each slab channel)."""

    slab_nodes: list[int]
    kind: str  # "features", "logits" or "probabilities"
    input_channels: int

    def __call__(self, chunk: torch.Tensor, weight: torch.Tensor, out: torch.Tensor) -> None: ...


@dataclass
class NetworkOutput:
    """A batch of window outputs ``[B, K, *roi]`` and the reducer that turns them into leaves."""

    values: torch.Tensor
    reducer: LeafReducer


@dataclass(frozen=True)
class WindowWeights:
    """The Gaussian blending weights of a window, in both layouts the chunks read."""

    xyz: torch.Tensor  # [rx, ry, rz], as the window
    zxy: torch.Tensor  # [rz, rx, ry], contiguous

    @classmethod
    def of(cls, importance: torch.Tensor) -> "WindowWeights":
        return cls(importance, importance.permute(2, 0, 1).contiguous())


class ScratchBuffer:
    """One tensor reused for every window (grown when a larger one is asked for), so a window-sized
    copy does not cost a fresh allocation each time. The caller makes sure the previous user is done."""

    def __init__(self) -> None:
        self._storage: Optional[torch.Tensor] = None

    def take(self, shape: tuple[int, ...], dtype: torch.dtype, device: torch.device) -> torch.Tensor:
        count = 1
        for size in shape:
            count *= int(size)
        storage = self._storage
        if storage is None or storage.numel() < count or storage.dtype != dtype or storage.device != device:
            self._storage = storage = None  # free the old one before allocating
            self._storage = storage = torch.empty(count, dtype=dtype, device=device)
        return storage[:count].view(shape)


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


def accumulate_window(slab: torch.Tensor, window: torch.Tensor, weights: WindowWeights,
                      x0: int, y0: int, reducer: LeafReducer, target_voxels: int,
                      workers: Optional[ChunkWorkers] = None, kept: Optional[tuple[slice, slice, slice]] = None,
                      background: bool = False, scratch: Optional[ScratchBuffer] = None) -> Callable[[], None]:
    """``slab[z, c, x0 + i, y0 + j] += weights[i, j, z] · p(leaf c | window[:, i, j, z])``.

    ``slab`` is ``[rz, L, X, Y]`` (z first, so finishing and shifting slices are contiguous);
    ``window`` is ``[K, rx, ry, rz]``. Only the ``kept`` part of the window (x, y, z slices in window
    coordinates; default all) is reduced: labels are never read in the padding around the scan.
    Chunks write disjoint parts of the slab, so they run in parallel. With ``background``, the
    chunks of a narrow output (which read a private z-first copy, not ``window``) keep running after
    the call returns, so the next window's network can run meanwhile; call the returned wait before
    touching the slab (or ``scratch``, which holds that copy when given) again. Otherwise (and for
    wide outputs, read in place) it returns when done.
    """
    channels, rx, ry, rz = window.shape
    xs, ys, zs = (part.indices(size) for part, size in zip(kept or (slice(None),) * 3, (rx, ry, rz)))
    tasks: list[Callable[[], None]] = []
    if channels <= ZFIRST_MAX_CHANNELS:
        # [K, rz, rx, ry]: ~C/N of an N-channel copy, into the reused buffer when there is one.
        zfirst = (scratch or ScratchBuffer()).take((channels, rz, rx, ry), window.dtype, window.device)
        zfirst.copy_(window.permute(0, 3, 1, 2))
        pieces = -(-(xs[1] - xs[0]) * ry // target_voxels)  # chunks per slice, of (nearly) equal rows
        rows = max(1, -(-(xs[1] - xs[0]) // max(pieces, 1)))

        def zfirst_task(z: int, x: int, x_stop: int) -> Callable[[], None]:
            def run() -> None:  # whole y rows: the chunk is contiguous
                reducer(zfirst[:, z, x:x_stop].reshape(channels, -1), weights.zxy[z, x:x_stop].reshape(-1),
                        slab[z, :, x0 + x:x0 + x_stop, y0:y0 + ry])
            return run

        tasks = [zfirst_task(z, x, min(x + rows, xs[1])) for z in range(zs[0], zs[1])
                 for x in range(xs[0], xs[1], rows)]
        workers = workers or ChunkWorkers(window.device, 1)
        if background:
            return workers.start(tasks)
    else:
        z_lo, z_hi = zs[0], zs[1]
        column = (ys[1] - ys[0]) * (z_hi - z_lo)
        rows = max(1, target_voxels // max(column, 1))  # x rows per chunk when one row is small
        y_block = ys[1] - ys[0] if rows > 1 else max(1, min(ys[1] - ys[0], target_voxels // max(z_hi - z_lo, 1)))

        def column_task(x: int, x_stop: int, y: int, y_stop: int) -> Callable[[], None]:
            def run() -> None:
                chunk = window[:, x:x_stop, y:y_stop, z_lo:z_hi]
                target = slab[z_lo:z_hi, :, x0 + x:x0 + x_stop, y0 + y:y0 + y_stop].permute(1, 2, 3, 0)
                reducer(chunk.reshape(channels, -1), weights.xyz[x:x_stop, y:y_stop, z_lo:z_hi].reshape(-1), target)
            return run

        tasks = [column_task(x, min(x + rows, xs[1]), y, min(y + y_block, ys[1]))
                 for x in range(xs[0], xs[1], rows) for y in range(ys[0], ys[1], y_block)]
    (workers or ChunkWorkers(window.device, 1)).run(tasks)
    return already_done
