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
    """A batch of window outputs ``[B, K, *roi]`` and the reducer that turns them into leaves.
    ``zfirst``: the values are ``[B, K, rz, rx, ry]`` instead, and stay valid until the batch
    after next (a runtime's own buffers): they are reduced in place, not copied."""

    values: torch.Tensor
    reducer: LeafReducer
    zfirst: bool = False


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


class SlabAccumulator:
    """Adds windows' leaf probabilities to the slab, ``slab[z, c, x0 + i, y0 + j] += weights[i, j, z] ·
    p(leaf c | window[:, i, j, z])``, a cache-sized chunk at a time on the workers.

    ``slab`` is ``[rz, L, X, Y]`` (z first, so finishing and shifting slices are contiguous); a
    window is ``[K, rx, ry, rz]``. Chunks write disjoint parts of the slab, so they run in parallel.
    The chunks of a narrow output (they read a private z-first copy, not the window) keep running
    after :meth:`add` returns, so the next window's network can run meanwhile: the accumulator owns
    that wait, does it before its next window, and :meth:`wait` must be called before anyone else
    touches the slab. Wide outputs are read in place, so :meth:`add` returns when they are done.
    """

    def __init__(self, slab: torch.Tensor, weights: WindowWeights, target_voxels: int,
                 workers: Optional[ChunkWorkers] = None) -> None:
        self.slab = slab
        self.weights = weights
        self.target_voxels = target_voxels
        self.workers = workers or ChunkWorkers(slab.device, 1)
        self._scratch = ScratchBuffer()  # the z-first copy, reused for every window
        self._pending: Callable[[], None] = already_done

    def wait(self) -> None:
        """Return when every chunk added so far is in the slab (raises what a chunk raised)."""
        pending, self._pending = self._pending, already_done
        pending()

    def add(self, window: torch.Tensor, x0: int, y0: int, reducer: LeafReducer,
            kept: Optional[tuple[slice, slice, slice]] = None, zfirst: bool = False) -> None:
        """Add the window at ``(x0, y0)`` (``[K, rx, ry, rz]``, or ``[K, rz, rx, ry]`` when ``zfirst``:
        then it must stay valid until the next :meth:`add` returns); only its ``kept`` part (x, y, z
        slices in window coordinates; default all) is reduced: labels are never read in the padding
        around the scan."""
        self.wait()  # the previous window's chunks may still read its z-first values
        if zfirst:
            channels, rz, rx, ry = window.shape
        else:
            channels, rx, ry, rz = window.shape
        spans = tuple(part.indices(size) for part, size in zip(kept or (slice(None),) * 3, (rx, ry, rz)))
        if zfirst:
            self._pending = self.workers.start(self._zfirst_tasks(window, x0, y0, reducer, spans))
        elif channels <= ZFIRST_MAX_CHANNELS:
            # [K, rz, rx, ry]: ~C/N of an N-channel copy, and the runtime may overwrite the window.
            copy = self._scratch.take((channels, rz, rx, ry), window.dtype, window.device)
            copy.copy_(window.permute(0, 3, 1, 2))
            self._pending = self.workers.start(self._zfirst_tasks(copy, x0, y0, reducer, spans))
        else:
            self.workers.run(self._column_tasks(window, x0, y0, reducer, spans))

    def _zfirst_tasks(self, zfirst: torch.Tensor, x0: int, y0: int, reducer: LeafReducer,
                      spans: tuple) -> list[Callable[[], None]]:
        channels, _, _, ry = zfirst.shape
        (x_lo, x_hi, _), _, (z_lo, z_hi, _) = spans
        pieces = -(-(x_hi - x_lo) * ry // self.target_voxels)  # chunks per slice, of (nearly) equal rows
        rows = max(1, -(-(x_hi - x_lo) // max(pieces, 1)))
        slab, weights = self.slab, self.weights

        def task(z: int, x: int, x_stop: int) -> Callable[[], None]:
            def run() -> None:  # whole y rows: the chunk is contiguous
                reducer(zfirst[:, z, x:x_stop].reshape(channels, -1), weights.zxy[z, x:x_stop].reshape(-1),
                        slab[z, :, x0 + x:x0 + x_stop, y0:y0 + ry])
            return run

        return [task(z, x, min(x + rows, x_hi)) for z in range(z_lo, z_hi) for x in range(x_lo, x_hi, rows)]

    def _column_tasks(self, window: torch.Tensor, x0: int, y0: int, reducer: LeafReducer,
                      spans: tuple) -> list[Callable[[], None]]:
        channels = window.shape[0]
        (x_lo, x_hi, _), (y_lo, y_hi, _), (z_lo, z_hi, _) = spans
        column = (y_hi - y_lo) * (z_hi - z_lo)
        rows = max(1, self.target_voxels // max(column, 1))  # x rows per chunk when one row is small
        y_block = y_hi - y_lo if rows > 1 else max(1, min(y_hi - y_lo, self.target_voxels // max(z_hi - z_lo, 1)))
        slab, weights = self.slab, self.weights

        def task(x: int, x_stop: int, y: int, y_stop: int) -> Callable[[], None]:
            def run() -> None:
                chunk = window[:, x:x_stop, y:y_stop, z_lo:z_hi]
                target = slab[z_lo:z_hi, :, x0 + x:x0 + x_stop, y0 + y:y0 + y_stop].permute(1, 2, 3, 0)
                reducer(chunk.reshape(channels, -1), weights.xyz[x:x_stop, y:y_stop, z_lo:z_hi].reshape(-1), target)
            return run

        return [task(x, min(x + rows, x_hi), y, min(y + y_block, y_hi))
                for x in range(x_lo, x_hi, rows) for y in range(y_lo, y_hi, y_block)]
