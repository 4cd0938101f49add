"""What runs on each batch of windows: the network's features or logits (default), or ``model.pt`` whole.

The network is taken out of ``model.pt``'s TorchScript graph (:mod:`saltseg.model.logits`): up to
its last pointwise convolution when it has one (``features``: C channels, the convolution applied
per chunk by the reducer), else up to its last convolution (``logits``: N channels). It can run on
a faster runtime (:mod:`saltseg.inference.backends`); the tree softmax is left to the sliding
window, which applies it in cache-sized chunks. Nothing is trusted unchecked: on the first batch, a
probe (the centre of the first window, cut in-plane to a sixth and in depth to a third when the
network accepts that)
is run through the whole model and through each candidate path; leaf probabilities must agree, or
every window runs through the whole model. A runtime other than torch at float32 (OpenVINO, or
any runtime at bfloat16: ``precision="auto"`` on a CPU with native bf16, or ``"bf16"``) must
reproduce torch's float32 logits on the same probe, run at the precision that will run, or torch
at float32 is used (:mod:`saltseg.inference.backends.precision`).
"""
from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import dataclass
from typing import Iterator, Optional

import torch

from ..model.logits import LogitsFunction, extract_features_and_head, extract_logits_function, simple_jit_executor
from ..model.model_io import SaltModel
from .backends.cpu_features import CpuBf16, cpu_bf16
from .backends.precision import ProbeVerdict, plan_precision, precision_summary
from .backends.preload import preload_first_runtime
from .backends.select import (TOLERANCES, NetworkBackend, check_requested, faster_runtime_hint, runtime_names,
                              select_backend)
from .leaf_accumulation import NetworkOutput
from .leaf_layout import LeafLayout
from .leaf_reducers import ProbabilityReducer, TreeSoftmaxReducer, leaf_probabilities

logger = logging.getLogger(__name__)

#: Largest |difference| between leaf probabilities of the logits path and the whole model.
LEAF_TOLERANCE = 1e-3
LEAF_TOLERANCE_HALF = 2e-2  # CUDA float16 autocast


@dataclass
class NetworkPath:
    """A function cut out of ``model.pt`` and the reducer that finishes its output."""

    kind: str  # "features" or "logits"
    function: LogitsFunction
    reducer: TreeSoftmaxReducer

    def logits(self, output: torch.Tensor) -> torch.Tensor:
        head = self.reducer.head
        return head.logits(output) if head is not None else output


def candidate_paths(model: SaltModel, layout: LeafLayout) -> list[NetworkPath]:
    """The cuts of ``model.pt`` worth trying, cheapest output first."""
    paths = []
    features = extract_features_and_head(model.network)
    if features is not None:
        function, head = features
        paths.append(NetworkPath("features", function, TreeSoftmaxReducer(layout, model.device, head)))
    logits = extract_logits_function(model.network)
    if logits is not None:
        paths.append(NetworkPath("logits", logits, TreeSoftmaxReducer(layout, model.device)))
    return paths


class WindowNetwork:
    """Callable ``[B, 1, *roi]`` windows → :class:`NetworkOutput`, choosing its path on the first batch."""

    def __init__(self, model: SaltModel, backend: str = "auto", whole_model: bool = False,
                 precision: str = "auto", mixed_precision: bool = True) -> None:
        self.model = model
        self.layout = LeafLayout(model.tree)
        #: The slab's channel order (read by the sliding window): the layout's, for every path.
        self.slab_nodes = self.layout.slab_nodes
        self._whole = ProbabilityReducer(self.slab_nodes, len(model.tree), model.device)
        self.candidates = [] if whole_model else candidate_paths(model, self.layout)
        if not whole_model and not self.candidates:
            logger.info("model.pt's graph has no recognisable network output; running it whole")
        check_requested(backend, model.device, precision)
        self.requested_backend = backend
        self.precision = precision  # as asked: auto, fp32 or bf16
        # The CPU's features are read only where they matter (a CPU run that may try bf16).
        cpu = cpu_bf16() if model.device.type == "cpu" and precision == "auto" else _NOT_READ
        self.plan = plan_precision(precision, model.device.type, cpu, mixed_precision)
        # The runtime the probe checks first loads meanwhile, with the run's thread count (the
        # probe runs torch on one thread).
        self._preload = (preload_first_runtime(runtime_names(backend), model.source, self.candidates[0].kind,
                                               self.plan.precision, torch.get_num_threads())
                         if self.candidates and model.device.type == "cpu" else None)
        self.verdicts: list[ProbeVerdict] = []
        self.path: Optional[NetworkPath] = None
        self.backend: Optional[NetworkBackend] = None
        self.verified = not self.candidates
        self.notes: list[str] = []
        self.seconds = 0.0  # time spent running the network (for benchmarks and logs)

    @property
    def uses_logits(self) -> bool:
        """True when the tree softmax runs in the engine (features or logits path)."""
        return self.path is not None or (not self.verified and bool(self.candidates))

    def precision_summary(self) -> str:
        """The precision that ran and why: ``bf16 (AVX512_BF16, probe agreed 99.9 %)``."""
        if self.verified and self.path is None and self.model.device.type == "cpu":
            return "fp32 (model.pt runs whole)"
        chosen = next((v for v in self.verdicts if v.accepted), None) if self.backend is not None else None
        logit_tolerance, label_agreement = TOLERANCES["bf16"]
        return precision_summary(self.plan, self.verdicts, chosen, label_agreement, logit_tolerance)

    def describe(self) -> str:
        """One line for logs and benchmarks: which path and runtime ran the windows."""
        if not self.uses_logits:
            return "model.pt whole (torch)"
        runtime = self.backend.name if self.backend is not None else "torch"
        precision = getattr(self.backend, "precision", "fp32")
        if precision != "fp32":
            runtime += f" {precision}"
        kind = self.path.kind if self.path is not None else self.candidates[0].kind
        return f"network {kind} ({runtime}) + chunked tree softmax"

    def __call__(self, windows: torch.Tensor) -> NetworkOutput:
        started = time.perf_counter()
        try:
            return self._run(windows)
        finally:
            self.seconds += time.perf_counter() - started

    def _run(self, windows: torch.Tensor) -> NetworkOutput:
        with simple_jit_executor():
            if not self.verified:
                self._choose_path(windows[:1])
            if self.path is None:
                return NetworkOutput(self.model.network(windows), self._whole)
            runner = self.backend.run if self.backend is not None else self.path.function
            return NetworkOutput(runner(windows), self.path.reducer)

    # ------------------------------------------------------------------ first batch
    def _choose_path(self, window: torch.Tensor) -> None:
        with _probe_threads(self.model.device):
            probe, whole = self._probe(window)
            expected = leaf_probabilities(self._whole, whole[0])
        tolerance = LEAF_TOLERANCE_HALF if whole.dtype == torch.float16 else LEAF_TOLERANCE
        del whole
        for path in self.candidates:
            with _probe_threads(self.model.device):
                reference = path.function(probe)
                reproduces = self._reproduces_model(path, reference, probe.shape[2:], expected, tolerance)
            if reproduces:
                self.path = path

                def leaf_labels(output: torch.Tensor, reducer: TreeSoftmaxReducer = path.reducer) -> torch.Tensor:
                    return leaf_probabilities(reducer, output[0]).argmax(0)  # the path chosen: the loop ends

                self.backend = select_backend(self.requested_backend, self.model, path.kind, path.function,
                                              probe, reference, path.logits, leaf_labels,
                                              self.notes, self.plan.precision if self.model.device.type == "cpu"
                                              else "fp32", self.verdicts,
                                              automatic=self.precision == "auto", preloaded=self._preload)
                hint = faster_runtime_hint(self.requested_backend, self.model.device)
                if hint is not None:
                    logger.warning(hint)
                    self.notes.append(hint)
                break
        self.verified = True  # only once the checks ran: an error before leaves them pending

    def _probe(self, window: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The probe window and the whole model's output for it: the centre of the first window,
        cut in-plane to about a sixth (a multiple of 32, which a U-Net's down-sampling accepts)
        or to half, and in depth to about a third (a multiple of 16), so checking costs about a
        percent of a window (the whole ``model.pt`` on the probe costs as much as its tree softmax
        on 16k voxels: 1.4 CPU-s on the published architecture at 16 slices, 2.7 at 48); the
        full depth, then the full window, when the network refuses the crop."""
        shape = [int(n) for n in window.shape[2:]]
        in_plane = [_probe_size(n) for n in shape[:2]]
        for sizes in ([*in_plane, _probe_depth(shape[2])], [*in_plane, shape[2]]):
            if sizes == shape:
                continue
            starts = [(n - c) // 2 for n, c in zip(shape, sizes)]
            crop = window[:, :, starts[0]:starts[0] + sizes[0], starts[1]:starts[1] + sizes[1],
                          starts[2]:starts[2] + sizes[2]].contiguous()
            try:
                whole = self.model.network(crop)
                if whole.shape[2:] == crop.shape[2:]:
                    return crop, whole
            except RuntimeError:
                pass
        return window, self.model.network(window)

    def _reproduces_model(self, path: NetworkPath, output: torch.Tensor, roi: torch.Size, expected: torch.Tensor,
                          tolerance: float) -> bool:
        if output.dim() != 5 or output.shape[1] != path.reducer.input_channels or output.shape[2:] != roi:
            logger.warning("model.pt's %s cut gives shape %s; not using it", path.kind, tuple(output.shape))
            return False
        difference = float((leaf_probabilities(path.reducer, output[0]) - expected).abs().max())
        if not difference <= tolerance:  # also catches NaN
            logger.warning("leaf probabilities from model.pt's network %s differ from the whole model's "
                           "by %.3g (> %.0e); not using them", path.kind, difference, tolerance)
            self.notes.append(f"{path.kind} path refused (max |Δp| {difference:.3g})")
            return False
        logger.info("%s path verified against the whole model (max |Δp| %.2g)", path.kind, difference)
        self.notes.append(f"{path.kind} path verified (max |Δp| {difference:.2g})")
        return True


@contextlib.contextmanager
def _probe_threads(device: torch.device) -> Iterator[None]:
    """torch on one thread for the probe's small tensors on the CPU: measured on the published
    architecture, two threads took twice the CPU time (each spinning while it waits for the other)
    and more wall time too. Not around the runtimes' loading: OpenVINO takes torch's thread count."""
    if device.type != "cpu":
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _probe_depth(size: int) -> int:
    third = max(size // 3 // 16 * 16, 16)
    return third if third < size else size


def _probe_size(size: int) -> int:
    sixth = max(size // 6 // 32 * 32, 32)
    if sixth < size:
        return sixth
    return size // 2 if size // 2 % 16 == 0 and size // 2 > 0 else size


#: Stands for the CPU's features where they are not read (fp32 or bf16 asked for, a GPU, model.pt whole).
_NOT_READ = CpuBf16("", "not read")


def window_predictor(model: SaltModel, options) -> WindowNetwork:
    return WindowNetwork(model, options.backend, options.whole_model, options.precision, options.mixed_precision)
