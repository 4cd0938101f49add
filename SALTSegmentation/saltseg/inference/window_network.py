"""What runs on each batch of windows: the network's logits (default) or ``model.pt`` whole.

The logits path takes the network out of ``model.pt``'s TorchScript graph
(:func:`saltseg.model.logits.extract_logits_function`), optionally runs it on a faster runtime
(:mod:`saltseg.inference.backends`), and leaves the tree softmax to the sliding window, which
applies it in cache-sized chunks. Nothing is trusted unchecked: on the first batch, a probe
(the centre of the first window, cut in-plane to about a third when the network accepts that) is run through
the whole model and through the logits path; leaf probabilities must agree, or every window runs
through the whole model. A runtime other than torch must reproduce torch's logits on the same
probe, or torch is used.
"""
from __future__ import annotations

import logging
import time
from typing import Optional

import torch

from ..model.logits import LogitsFunction, extract_logits_function, simple_jit_executor
from ..model.model_io import SaltModel
from .backends.select import NetworkBackend, check_requested, select_backend
from .leaf_accumulation import NetworkOutput, leaves_of_logits, leaves_of_probabilities

logger = logging.getLogger(__name__)

#: Largest |difference| between leaf probabilities of the logits path and the whole model.
LEAF_TOLERANCE = 1e-3
LEAF_TOLERANCE_HALF = 2e-2  # CUDA float16 autocast


class WindowNetwork:
    """Callable ``[B, 1, *roi]`` windows → :class:`NetworkOutput`, choosing its path on the first batch."""

    def __init__(self, model: SaltModel, backend: str = "auto", whole_model: bool = False) -> None:
        self.model = model
        self.leaves = torch.as_tensor(model.tree.leaves, dtype=torch.long, device=model.device)
        self._from_probabilities = leaves_of_probabilities(self.leaves)
        self._from_logits = leaves_of_logits(model.tree, model.device)
        self.logits_function: Optional[LogitsFunction] = None if whole_model else extract_logits_function(model.network)
        if not whole_model and self.logits_function is None:
            logger.info("model.pt's graph has no recognisable network output; running it whole")
        check_requested(backend, model.device)
        self.requested_backend = backend
        self.backend: Optional[NetworkBackend] = None
        self.verified = whole_model or self.logits_function is None
        self.notes: list[str] = []
        self.seconds = 0.0  # time spent running the network (for benchmarks and logs)

    @property
    def uses_logits(self) -> bool:
        return self.logits_function is not None

    def describe(self) -> str:
        """One line for logs and benchmarks: which path and runtime ran the windows."""
        if not self.uses_logits:
            return "model.pt whole (torch)"
        runtime = self.backend.name if self.backend is not None else "torch"
        return f"network logits ({runtime}) + chunked tree softmax"

    def __call__(self, windows: torch.Tensor) -> NetworkOutput:
        started = time.perf_counter()
        try:
            return self._run(windows)
        finally:
            self.seconds += time.perf_counter() - started

    def _run(self, windows: torch.Tensor) -> NetworkOutput:
        with simple_jit_executor():
            if not self.verified:
                return self._first_batch(windows)
            if not self.uses_logits:
                return NetworkOutput(self.model.network(windows), self._from_probabilities, logits=False)
            logits = self.backend.run(windows) if self.backend is not None else self.logits_function(windows)
            return NetworkOutput(logits, self._from_logits, logits=True)

    # ------------------------------------------------------------------ first batch
    def _first_batch(self, windows: torch.Tensor) -> NetworkOutput:
        probe, whole = self._probe(windows[:1])
        reference_logits = self.logits_function(probe)
        accepted = self._logits_reproduce_model(reference_logits, whole)
        self.verified = True  # only once the check has run: an error before it leaves it pending
        if not accepted:
            self.logits_function = None
            return NetworkOutput(self.model.network(windows), self._from_probabilities, logits=False)
        del whole
        self.backend = select_backend(self.requested_backend, self.model, self.logits_function,
                                      probe, reference_logits, self._leaf_labels, self.notes)
        if self.backend is not None:
            return NetworkOutput(self.backend.run(windows), self._from_logits, logits=True)
        return NetworkOutput(self.logits_function(windows), self._from_logits, logits=True)

    def _probe(self, window: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The probe window and the whole model's output for it: the centre of the first window,
        cut in-plane to about a third (a multiple of 32, which a U-Net's down-sampling accepts)
        or to half, so checking costs a fraction of a window; the full window when the network
        refuses the crop."""
        sizes = [_probe_size(int(n)) for n in window.shape[2:4]]
        if sizes != list(window.shape[2:4]):
            starts = [(int(n) - c) // 2 for n, c in zip(window.shape[2:4], sizes)]
            crop = window[:, :, starts[0]:starts[0] + sizes[0], starts[1]:starts[1] + sizes[1], :].contiguous()
            try:
                whole = self.model.network(crop)
                if whole.shape[2:] == crop.shape[2:]:
                    return crop, whole
            except RuntimeError:
                pass
        return window, self.model.network(window)

    def _leaf_labels(self, logits: torch.Tensor) -> torch.Tensor:
        flat = logits[0].reshape(logits.shape[1], -1)
        return self._from_logits(flat, torch.ones(flat.shape[1], device=flat.device)).argmax(0)

    def _logits_reproduce_model(self, logits: torch.Tensor, whole: torch.Tensor) -> bool:
        if logits.dim() != 5 or logits.shape != whole.shape:
            logger.warning("model.pt's cut graph gives shape %s, the model %s; running it whole",
                           tuple(logits.shape), tuple(whole.shape))
            return False
        channels = logits.shape[1]
        ones = torch.ones(logits[0, 0].numel(), device=logits.device)
        ours = self._from_logits(logits[0].reshape(channels, -1), ones)
        theirs = self._from_probabilities(whole[0].reshape(channels, -1), ones)
        difference = float((ours - theirs).abs().max())
        tolerance = LEAF_TOLERANCE_HALF if whole.dtype == torch.float16 else LEAF_TOLERANCE
        if not difference <= tolerance:  # also catches NaN
            logger.warning("leaf probabilities from model.pt's network logits differ from the whole "
                           "model's by %.3g (> %.0e); running model.pt whole", difference, tolerance)
            self.notes.append(f"logits path refused (max |Δp| {difference:.3g})")
            return False
        logger.info("logits path verified against the whole model (max |Δp| %.2g)", difference)
        self.notes.append(f"logits path verified (max |Δp| {difference:.2g})")
        return True


def _probe_size(size: int) -> int:
    third = size // 3 // 32 * 32
    if third >= 32:
        return third
    return size // 2 if size // 2 % 16 == 0 and size // 2 > 0 else size


def window_predictor(model: SaltModel, options) -> WindowNetwork:
    return WindowNetwork(model, options.backend, options.whole_model)
