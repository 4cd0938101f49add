"""Sliding-window inference that reduces to leaf labels slab by slab.

Windows are Gaussian-weighted and overlap like MONAI's ``sliding_window_inference`` (SALT's
default overlap 0.5), placed as SALT places them unless ``placement="flush"``
(:mod:`saltseg.inference.window_placement`). The volume is swept along its last (inferior) axis
in slabs one window deep; after each slab, the slices no later window can touch are reduced to
labels (argmax over the leaves) and the accumulator moves on. Peak memory is therefore one slab —
``leaves × X × Y × roi_z`` floats — plus the network's output for two batches (a batch of
features is reduced while the next one runs), however long the scan.

The predictor returns either ``model.pt``'s node probabilities (a plain callable) or a
:class:`~saltseg.inference.leaf_accumulation.NetworkOutput` (network features or logits with the
tree softmax still to apply); either way each window is reduced to its leaves in cache-sized
chunks. A predictor may declare ``slab_nodes``, the tree node of each slab channel, when its
reducers write the leaves in another order than the labels (a faster layout); labels are still
the argmax in label order, so ties break as in SALT.

Differences from SALT's ``sliding_window_inference_with_reduction`` that do not change labels:
we accumulate only the leaf channels (argmax is over leaves) and skip dividing by the summed
weights (positive and equal across channels, so the argmax is unchanged); SALT crashes when every
slice is constant, we stop earlier with a clear error. Optional, off by default: windows holding
only air (every voxel below ``skip_below``) are not run and count as certain background.
Probability maps of chosen nodes are read off the finished slices of the same slab
(:mod:`saltseg.inference.node_probabilities`); none asked for, none computed.
"""
from __future__ import annotations

import contextlib
import dataclasses
import functools
import itertools
from dataclasses import dataclass
from typing import Callable, Optional, Union, cast

import numpy as np
import torch

from ..errors import ModelError, OutOfMemoryError
from ..progress import ProgressReporter
from .allocator import retained_heap
from ..devices import is_out_of_memory
from .leaf_accumulation import ChunkWorkers, NetworkOutput, SlabAccumulator, chunk_voxels
from .leaf_reducers import ProbabilityReducer
from .node_probabilities import NodeMapAccumulator, NodeMapRequest
from .options import option_spec
from .slab import Slab, leaf_argmax
from .window_placement import cleared_slices, gaussian_importance, pad_volume, scan_positions, trim_constant_slices

#: Windows → ``model.pt``'s node probabilities ``[B, N, *roi]``, or a :class:`NetworkOutput`.
Predictor = Callable[[torch.Tensor], Union[torch.Tensor, NetworkOutput]]

@dataclass(frozen=True)
class WindowSettings:
    roi_size: tuple[int, int, int]
    overlap: float = 0.5
    batch_size: int = 2
    sigma_scale: float = 0.125
    pad_value: float = 0.0  # normalised air
    mixed_precision: bool = True
    placement: str = "salt"
    #: Windows whose every (normalised) voxel is below this are not run; None: run every window.
    skip_below: Optional[float] = None

    def __post_init__(self) -> None:
        # The run options' own checks (the same words as every front end's).
        option_spec("overlap").check(self.overlap)
        option_spec("batch_size").check(self.batch_size)
        option_spec("window_placement").check(self.placement)


def effective_batch_size(batch_size: int, device: torch.device) -> int:
    """Windows per network call: as asked on accelerators, one on the CPU."""
    return batch_size if device.type != "cpu" else 1


class _Batcher:
    """Runs the predictor on batches of windows and checks the output format once."""

    def __init__(self, predictor: Predictor, device: torch.device, slab_nodes: list[int],
                 num_nodes: int, settings: WindowSettings) -> None:
        self.predictor = predictor
        self.device = device
        self.slab_nodes = slab_nodes
        self.probabilities = ProbabilityReducer(slab_nodes, num_nodes, device)
        self.num_nodes = num_nodes
        self.settings = settings
        self.checked = False
        self.windows_run = 0

    def _autocast(self):
        if self.settings.mixed_precision and self.device.type == "cuda":
            return torch.autocast(device_type="cuda", dtype=torch.float16)
        return contextlib.nullcontext()

    def __call__(self, windows: torch.Tensor) -> NetworkOutput:
        """``[B, 1, *roi]`` → the network's output for those windows."""
        with torch.inference_mode(), self._autocast():
            output = self.predictor(windows.to(self.device, non_blocking=True))
        if not isinstance(output, NetworkOutput):
            output = NetworkOutput(output, self.probabilities)
        if not self.checked:
            self._check(output, windows)
        self.windows_run += windows.shape[0]
        return output

    def _check(self, output: NetworkOutput, windows: torch.Tensor) -> None:
        values, reducer = output.values, output.reducer
        if list(reducer.slab_nodes) != list(self.slab_nodes):
            raise ModelError("the network's reducer writes the leaves in another order than the slab")
        if values.dim() != 5 or values.shape[1] != reducer.input_channels or values.shape[2:] != windows.shape[2:]:
            raise ModelError(
                f"model.pt returned shape {tuple(values.shape)} for input {tuple(windows.shape)}; "
                f"expected {reducer.input_channels} channels "
                f"({'one per label-tree node' if reducer.kind != 'features' else 'network features'}) "
                "at the window size"
            )
        if reducer.kind == "probabilities":
            nodes = torch.as_tensor(self.slab_nodes, device=values.device)
            leaf_sum = values[:1].index_select(1, nodes).float().sum(dim=1)
            if not torch.allclose(leaf_sum, torch.ones_like(leaf_sum), atol=2e-2):
                raise ModelError(
                    "model.pt does not output tree-softmax probabilities (leaf probabilities do not "
                    "sum to 1); an official SALT export ends with TreeSoftmax — export logits with "
                    "saltseg.model.export.export_model"
                )
        self.checked = True


def _slab_order(predictor: Predictor, leaves: torch.Tensor,
                device: torch.device) -> tuple[list[int], Optional[torch.Tensor]]:
    """The tree node of each slab channel, and the slab channel of each label (None: the same order)."""
    label_nodes = [int(node) for node in leaves.tolist()]
    slab_nodes = [int(node) for node in getattr(predictor, "slab_nodes", label_nodes)]
    if sorted(slab_nodes) != sorted(label_nodes):
        raise ModelError("the predictor's slab channels are not the tree's leaves")
    if slab_nodes == label_nodes:
        return slab_nodes, None
    channel_of_node = {node: channel for channel, node in enumerate(slab_nodes)}
    return slab_nodes, torch.as_tensor([channel_of_node[node] for node in label_nodes], device=device)


Int3 = tuple[int, int, int]


@dataclass(frozen=True)
class WindowGrid:
    """Where the windows go: the volume's constant end slices trimmed, the rest padded as the
    placement says, and the window positions along each axis (z-outer sweeps slab by slab)."""

    padded: torch.Tensor  # [X, Y, Z], trimmed and padded
    z_range: tuple[int, int]  # the slices of the volume that were kept (the others are constant)
    low: tuple[int, int, int]  # padding before the trimmed volume, per axis
    trimmed_shape: tuple[int, int, int]
    roi: tuple[int, int, int]
    z_positions: list[int]
    xy_positions: list[tuple[int, int]]

    @classmethod
    def over(cls, volume: np.ndarray, settings: WindowSettings) -> "WindowGrid":
        z_start, z_stop = trim_constant_slices(volume)
        trimmed = torch.from_numpy(np.ascontiguousarray(volume[:, :, z_start:z_stop]))
        padded, low = pad_volume(trimmed, settings.roi_size, settings.pad_value, settings.placement)
        (rx, ry, rz), (size_x, size_y, size_z) = settings.roi_size, padded.shape
        xy = list(itertools.product(scan_positions(size_x, rx, settings.overlap),
                                    scan_positions(size_y, ry, settings.overlap)))
        return cls(padded, (z_start, z_stop), cast(Int3, tuple(low)), cast(Int3, tuple(trimmed.shape)),
                   cast(Int3, tuple(settings.roi_size)), scan_positions(size_z, rz, settings.overlap), xy)

    @property
    def total(self) -> int:
        return len(self.z_positions) * len(self.xy_positions)

    @property
    def kept(self) -> tuple[slice, slice, range]:
        """The scan inside the padded volume (labels only there: padding is cut off)."""
        (lx, ly, lz), (tx, ty, tz) = self.low, self.trimmed_shape
        return slice(lx, lx + tx), slice(ly, ly + ty), range(lz, lz + tz)

    def kept_part(self, x0: int, y0: int, z0: int) -> tuple[slice, slice, slice]:
        """The part of the window at ``(x0, y0, z0)`` inside the scan, in window coordinates."""
        def part(s: int, r: int, start: int, stop: int) -> slice:
            return slice(max(0, start - s), max(0, min(r, stop - s)))

        (rx, ry, rz), (kx, ky, kz) = self.roi, self.kept
        return part(x0, rx, kx.start, kx.stop), part(y0, ry, ky.start, ky.stop), part(z0, rz, kz.start, kz.stop)

    def window(self, x0: int, y0: int, z0: int) -> torch.Tensor:
        rx, ry, rz = self.roi
        return self.padded[x0:x0 + rx, y0:y0 + ry, z0:z0 + rz]

    def xy_batches(self, batch_size: int) -> list[list[tuple[int, int]]]:
        return [self.xy_positions[i:i + batch_size] for i in range(0, len(self.xy_positions), batch_size)]

    def finished_slices(self, k: int) -> int:
        """Slices of the slab at ``z_positions[k]`` that no later window touches."""
        z0 = self.z_positions[k]
        z_next = self.z_positions[k + 1] if k + 1 < len(self.z_positions) else z0 + self.roi[2]
        return z_next - z0


@dataclass
class WindowCounts:
    windows: int = 0
    windows_run: int = 0
    windows_skipped: int = 0


def _is_air(windows: torch.Tensor, skip_below: Optional[float]) -> list[bool]:
    if skip_below is None:
        return [False] * windows.shape[0]
    return (windows.flatten(1).amax(dim=1) < skip_below).tolist()


class _SlabSweep:
    """Runs the windows of one slab at a time into the slab accumulator and turns the finished
    slices into labels (argmax over the leaves, in label order, so ties break as in SALT)."""

    def __init__(self, grid: WindowGrid, batcher: _Batcher, accumulator: SlabAccumulator,
                 label_channels: Optional[torch.Tensor], background_channel: int,
                 settings: WindowSettings, batch_size: int, label_dtype: torch.dtype) -> None:
        self.grid, self.batcher, self.accumulator = grid, batcher, accumulator
        self.slab = accumulator.slab
        self.label_channels, self.background_channel = label_channels, background_channel
        self.skip_below = settings.skip_below
        self.placement = settings.placement
        self.labels = torch.empty(grid.trimmed_shape, dtype=label_dtype)  # [X, Y, Z], as the volume
        # The network's input, reused for every batch (see also allocator.retained_heap for what
        # the runtimes allocate themselves).
        self.window_buffer = torch.empty((batch_size, 1, *grid.roi), dtype=grid.padded.dtype)
        self.skipped = 0
        #: The requested probability maps (None: none asked for, and nothing extra is computed).
        self.node_maps: Optional[NodeMapAccumulator] = None

    def run_batch(self, z0: int, batch: list[tuple[int, int]]) -> None:
        windows = self.window_buffer[:len(batch)]
        for i, (x0, y0) in enumerate(batch):
            windows[i, 0].copy_(self.grid.window(x0, y0, z0))
        air = _is_air(windows, self.skip_below)
        run = [i for i, is_air in enumerate(air) if not is_air]
        self.skipped += len(batch) - len(run)
        inputs = windows if len(run) == len(batch) else windows[run]
        # The network runs while the previous window's chunks are still being reduced.
        output = self.batcher(inputs) if run else None  # [b, K, rx, ry, rz]
        for (x0, y0), is_air in zip(batch, air):
            if is_air:
                self.accumulator.add_background(x0, y0, self.background_channel)
        if output is not None:
            for i, window in zip(run, output.values):
                x0, y0 = batch[i]
                self.accumulator.add(window, x0, y0, output.reducer, self.grid.kept_part(x0, y0, z0))

    def finish_slab(self, k: int) -> None:
        """Label the slices of slab ``k`` that no later window touches; move the rest forward."""
        self.accumulator.wait()
        z0, rz = self.grid.z_positions[k], self.grid.roi[2]
        kept_x, kept_y, kept_z = self.grid.kept
        finished = self.grid.finished_slices(k)
        first, stop = max(0, kept_z.start - z0), min(finished, kept_z.stop - z0)  # the finished scan slices
        label_z = slice(z0 + first - kept_z.start, z0 + stop - kept_z.start)
        cleared = cleared_slices(rz, finished, self.placement)
        size_x, rows = self.slab.values.shape[0], 4

        def finish(x: int, x_stop: int) -> None:
            scan_x = slice(max(x, kept_x.start), min(x_stop, kept_x.stop))
            if scan_x.start < scan_x.stop and first < stop:
                scores = self.slab.values[scan_x, :, kept_y, first:stop]  # [x, L, y, z]
                label_x = slice(scan_x.start - kept_x.start, scan_x.stop - kept_x.start)
                if self.node_maps is not None:
                    self.node_maps.record(label_x, label_z, scores.permute(1, 0, 2, 3))
                leaf_argmax(scores, self.label_channels, self.labels[label_x, :, label_z])  # a view: written in place
            self.slab.move_on(slice(x, x_stop), finished, cleared)

        # Blocks of x rows on the worker threads, each single-threaded: memory-bound, and torch's
        # own threads spent ~2× the CPU on it (spinning while they wait for each other).
        self.accumulator.workers.run([functools.partial(finish, x, min(x + rows, size_x))
                                      for x in range(0, size_x, rows)])


def _sliding_window_labels(
    volume: np.ndarray,
    predictor: Predictor,
    leaves: torch.Tensor,
    num_nodes: int,
    settings: WindowSettings,
    device: torch.device,
    report: ProgressReporter,
    background_value: int,
    node_maps: Optional[NodeMapRequest] = None,
) -> tuple[np.ndarray, WindowCounts, Optional[np.ndarray]]:
    grid = WindowGrid.over(volume, settings)
    slab_nodes, label_channels = _slab_order(predictor, leaves, device)
    background_channel = int(label_channels[background_value]) if label_channels is not None else background_value
    batcher = _Batcher(predictor, device, slab_nodes, num_nodes, settings)
    weights = gaussian_importance(settings.roi_size, settings.sigma_scale, device)
    size_x, size_y, _ = grid.padded.shape
    slab = Slab(size_x, len(slab_nodes), size_y, grid.roi[2], device)
    # On the CPU a batch gives the convolutions no extra throughput, only a second N-channel
    # output in memory: run windows one by one there.
    batch_size = effective_batch_size(settings.batch_size, device)
    label_dtype = torch.uint8 if len(leaves) <= 256 else torch.int16
    done = 0
    report("inference", 0.0)
    with ChunkWorkers(device) as workers:
        sweep = _SlabSweep(grid, batcher, SlabAccumulator(slab, weights, chunk_voxels(device), workers),
                           label_channels, background_channel, settings, batch_size, label_dtype)
        if node_maps:
            sweep.node_maps = NodeMapAccumulator(node_maps, slab_nodes, volume.shape, grid.z_range,
                                                 int(leaves[background_value]), device)
        for k, z0 in enumerate(grid.z_positions):
            for batch in grid.xy_batches(batch_size):
                report.check_cancelled()
                sweep.run_batch(z0, batch)
                done += len(batch)
                report("inference", done / grid.total)
            sweep.finish_slab(k)
    labels = sweep.labels.numpy()
    counts = WindowCounts(grid.total, batcher.windows_run, sweep.skipped)
    maps = sweep.node_maps.maps if sweep.node_maps is not None else None
    del slab, sweep
    result = np.full(volume.shape, background_value, dtype=labels.dtype)
    z_start, z_stop = grid.z_range
    result[:, :, z_start:z_stop] = labels
    return result, counts, maps


def sliding_window_labels(
    volume: np.ndarray,
    predictor: Predictor,
    leaves: torch.Tensor,
    num_nodes: int,
    settings: WindowSettings,
    device: torch.device,
    report: Optional[ProgressReporter] = None,
    background_value: int = 0,
    stats: Optional[dict] = None,
) -> np.ndarray:
    """Label values (index into ``leaves``) for every voxel of ``volume`` ``[X, Y, Z]``.

    ``stats``, when given, receives the window counts (``windows``, ``windows_run``,
    ``windows_skipped``). Out-of-memory errors of the device (windows or the slab accumulator)
    become an :class:`OutOfMemoryError` that says what to change.
    """
    return sliding_window_outputs(volume, predictor, leaves, num_nodes, settings, device, report,
                                  background_value, stats)[0]


def sliding_window_outputs(
    volume: np.ndarray,
    predictor: Predictor,
    leaves: torch.Tensor,
    num_nodes: int,
    settings: WindowSettings,
    device: torch.device,
    report: Optional[ProgressReporter] = None,
    background_value: int = 0,
    stats: Optional[dict] = None,
    node_maps: Optional[NodeMapRequest] = None,
) -> tuple[np.ndarray, Optional[np.ndarray]]:
    """:func:`sliding_window_labels`, and the probability maps ``node_maps`` asks for
    (:class:`~saltseg.inference.node_probabilities.NodeMapAccumulator`'s ``maps``; None when none)."""
    try:
        with retained_heap():
            labels, counts, maps = _sliding_window_labels(volume, predictor, leaves, num_nodes, settings, device,
                                                          report or ProgressReporter(), background_value, node_maps)
    except RuntimeError as error:
        if not is_out_of_memory(error):
            raise
        if device.type == "cuda":
            torch.cuda.empty_cache()
        raise OutOfMemoryError(
            f"{device.type.upper()} out of memory with windows of {'×'.join(map(str, settings.roi_size))} "
            f"voxels in batches of {settings.batch_size} — retry on the CPU, or with a window batch "
            "size of 1"
        ) from error
    if stats is not None:
        stats.update(dataclasses.asdict(counts))
    return labels, maps
