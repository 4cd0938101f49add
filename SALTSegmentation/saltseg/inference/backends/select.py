"""Choosing the runtime and precision for the network cut out of ``model.pt`` (features or logits).

``auto`` uses OpenVINO on the CPU when it is installed and torch otherwise; bfloat16 (tried by
``precision="auto"`` on CPUs with native bf16, and by ``"bf16"`` anywhere: see
:mod:`.precision`) asks the runtime for bf16 arithmetic (torch through CPU autocast). Whatever was asked for, a
runtime is used only after its output on the probe window, computed at the precision that will run,
matches torch's float32 output (:func:`check_against_torch`, tolerances per precision); any failure
— conversion, loading, mismatch — logs a warning and leaves the next candidate, finally torch at
float32, in charge, which is always correct, only slower.
"""
from __future__ import annotations

import logging
import math
from typing import Callable, Optional, Protocol

import torch

from ...errors import ModelError
from ...model.logits import LogitsFunction
from ...model.model_io import SaltModel
from . import BACKEND_CHOICES, PRECISION_CHOICES
from .onnx_file import cached_network_onnx
from .precision import ProbeVerdict
from .preload import RuntimePreload
from .runtimes import EXTRAS, RUNTIMES, TorchBf16Network, is_installed

logger = logging.getLogger(__name__)

#: Tried in this order by ``auto``, where installed.
AUTO_ORDER = ("openvino",)
#: Per precision: the largest |Δ logit| accepted, relative to the largest |logit|, and the fraction of
#: probe voxels whose leaf label must agree with torch's float32 labels. float32: 0.032 measured for
#: logits up to ~40 and 99.94 % equal labels on a random full-size DynUNet (the hardest case).
#: bfloat16 keeps 8 bits of mantissa; its bar is the fidelity bar of a whole run (99.5 % of voxels;
#: see benchmarks/precision_agreement.py for what whole runs measured).
TOLERANCES = {"fp32": (2e-3, 0.999), "bf16": (5e-2, 0.995)}
# Kept for readers of the float32 values.
LOGIT_TOLERANCE, LABEL_AGREEMENT = TOLERANCES["fp32"]


class NetworkBackend(Protocol):
    name: str
    precision: str

    def run(self, windows: torch.Tensor) -> torch.Tensor:
        """``[B, 1, *roi]`` float32 windows → the cut's output ``[B, K, *roi]``, valid until the run
        after next (the sliding window reduces it while the next window runs)."""


def check_requested(requested: str, device: torch.device, precision: str = "fp32") -> None:
    """Refuse an impossible ``--backend`` / ``--precision`` before any work."""
    if requested not in BACKEND_CHOICES:
        raise ModelError(f"unknown backend {requested!r}; choose one of {', '.join(BACKEND_CHOICES)}")
    if precision not in PRECISION_CHOICES:
        raise ModelError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISION_CHOICES)}")
    if precision == "bf16" and device.type != "cpu":
        raise ModelError(f"precision {precision} is for the CPU runtimes; {device.type.upper()} runs float16 "
                         "mixed precision (turn mixed precision off for float32: --no-mixed-precision)")
    if requested in RUNTIMES:
        if not is_installed(requested):
            raise ModelError(f"backend {requested}: {requested} is not installed "
                             f"(pip install \"saltseg[{EXTRAS[requested]}]\")")
        if device.type != "cpu":
            raise ModelError(f"backend {requested} runs on the CPU; choose the CPU device or the torch "
                             "backend instead (--device cpu, --backend torch)")


def torch_bf16_supported() -> bool:
    """Whether torch has bf16 convolution kernels for this CPU (oneDNN's AVX-512 / AMX paths).
    Without them torch falls back to reference code: measured 140× slower than float32 on an
    AVX2-only EPYC, so bf16 is not worth running there."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def runtime_names(requested: str) -> list[str]:
    """The ONNX runtimes ``--backend requested`` may run (installed ones for ``auto``), in order."""
    names = [name for name in AUTO_ORDER if is_installed(name)] if requested == "auto" else [requested]
    return [name for name in names if name in RUNTIMES]


def candidates(requested: str, device: torch.device, precision: str = "fp32",
               notes: Optional[list[str]] = None, automatic: bool = False) -> list[tuple[str, str]]:
    """(runtime, precision) pairs to try in order before torch at float32. ``automatic``: bf16 chosen
    by ``--precision auto`` on a CPU with native bf16, where a faster runtime that refuses bf16 runs
    at float32 next (still faster than torch at bf16)."""
    if device.type != "cpu":
        return []
    names = runtime_names(requested)
    if precision == "fp32":
        return [(name, "fp32") for name in names]
    if automatic and names:
        return [(name, precision) for name in names] + [(name, "fp32") for name in names]
    # Reduced precision: each runtime at it (torch last, where it has kernels), then the float32 runtimes.
    torch_too = [("torch", precision)]
    if not torch_bf16_supported():
        message = "this CPU has no bf16 kernels for torch (no AVX-512/AMX): torch runs float32"
        logger.warning(message)
        if notes is not None:
            notes.append(message)
        torch_too = []
    return [(name, precision) for name in names] + torch_too + [(name, "fp32") for name in names]


def check_against_torch(backend: NetworkBackend, probe: torch.Tensor, reference_output: torch.Tensor,
                        to_logits: Callable[[torch.Tensor], torch.Tensor],
                        leaf_labels: Callable[[torch.Tensor], torch.Tensor],
                        precision: str = "fp32") -> tuple[bool, str, ProbeVerdict]:
    """Run the backend on the probe: its logits (features go through the head) must match torch's
    float32 ones, and so must the leaf labels ``leaf_labels`` derives from either output, within the
    tolerances of ``precision``."""
    output = backend.run(probe).float()
    if output.shape != reference_output.shape:
        return (False, f"shape {tuple(output.shape)} instead of {tuple(reference_output.shape)}",
                ProbeVerdict(backend.name, precision, False, 0.0, math.inf))
    logits = to_logits(output)
    reference = to_logits(reference_output.float().cpu())
    difference = float((logits - reference).abs().max())
    scale = max(1.0, float(reference.abs().max()))
    agreement = float((leaf_labels(output) == leaf_labels(reference_output.float().cpu())).float().mean())
    summary = f"max |Δ logit| {difference:.2g} (logits up to {scale:.3g}), leaf labels {100 * agreement:.3f} % equal"
    logit_tolerance, label_agreement = TOLERANCES[precision]
    accepted = difference <= logit_tolerance * scale and agreement >= label_agreement  # False for NaN
    return accepted, summary, ProbeVerdict(backend.name, precision, accepted, agreement, difference / scale)


Verdict = tuple[bool, str, ProbeVerdict]


def _load(name: str, precision: str, model: SaltModel, kind: str, function: LogitsFunction,
          probe: torch.Tensor, check: Callable[[NetworkBackend], Verdict],
          preloaded: Optional[RuntimePreload] = None) -> tuple[NetworkBackend, Verdict]:
    """The runtime and its check's verdict; an ONNX runtime whose cached file fails is converted afresh once."""
    backend: NetworkBackend
    if name == "torch":
        backend = TorchBf16Network(function)
        return backend, check(backend)
    assert model.source is not None  # select_backend skips the ONNX runtimes without model.pt's folder
    loaded = preloaded.take(name, precision, kind) if preloaded is not None else None
    if loaded is not None:
        try:
            return loaded, check(loaded)
        except Exception as error:  # noqa: BLE001  (runtimes raise their own types)
            logger.info("the preloaded %s failed (%s); loading it again", name, error)
    for refresh in (False, True):
        path = cached_network_onnx(model.source, kind, function, probe, refresh=refresh)
        try:
            backend = RUNTIMES[name](path, torch.get_num_threads(), precision)
            return backend, check(backend)
        except Exception as error:  # noqa: BLE001  (runtimes raise their own types)
            if refresh:
                raise
            logger.info("cached %s failed in %s (%s); converting again", path.name, name, error)
    raise AssertionError("unreachable")


def select_backend(requested: str, model: SaltModel, kind: str, function: LogitsFunction, probe: torch.Tensor,
                   reference_output: torch.Tensor, to_logits: Callable[[torch.Tensor], torch.Tensor],
                   leaf_labels: Callable[[torch.Tensor], torch.Tensor],
                   notes: Optional[list[str]] = None, precision: str = "fp32",
                   verdicts: Optional[list[ProbeVerdict]] = None, automatic: bool = False,
                   preloaded: Optional[RuntimePreload] = None) -> Optional[NetworkBackend]:
    """The verified runtime to run ``function`` (the ``kind`` cut of the network) instead of
    torch at float32, or None for torch at float32. ``reference_output`` is torch's float32 output
    for ``probe``; each check's verdict is appended to ``verdicts``; ``preloaded``: the first
    candidate, already loading (:mod:`.preload`)."""
    notes = notes if notes is not None else []
    verdicts = verdicts if verdicts is not None else []
    for name, wanted in candidates(requested, model.device, precision, notes, automatic):
        if name in RUNTIMES and model.source is None:
            continue
        label = f"{name} {wanted}" if precision != "fp32" else name

        # called within this iteration (by _load): ``wanted`` bound as a default for the linter only
        def check(backend: NetworkBackend, wanted: str = wanted) -> Verdict:
            return check_against_torch(backend, probe, reference_output, to_logits, leaf_labels,
                                       getattr(backend, "precision", wanted))

        try:
            backend, (accepted, summary, verdict) = _load(name, wanted, model, kind, function, probe, check,
                                                          preloaded)
        except Exception as error:  # noqa: BLE001
            logger.warning("%s cannot run this network (%s: %s); trying the next runtime", label,
                           type(error).__name__, error)
            notes.append(f"{label} failed: {type(error).__name__}")
            continue
        verdicts.append(verdict)
        if accepted:
            logger.info("network runs on %s (%s)", label, summary)
            notes.append(f"{label} verified against torch fp32 ({summary})")
            return backend
        logger.warning("%s does not reproduce torch's float32 logits (%s); trying the next runtime", label, summary)
        notes.append(f"{label} refused ({summary})")
    if precision != "fp32":
        logger.warning("no runtime passed its check at %s; running torch at float32", precision)
    return None


#: Measured speed-up of OpenVINO over torch on the CPU (full architecture, float32; benchmarks/README.md):
#: 1.97× whole run on a 2-core AVX-512 EPYC, 2.0× per window on the AVX2 EPYC of issue 10, 1.07×
#: whole run on a 2-core Zen 1 EPYC, where torch already runs at the CPU's float32 arithmetic rate.
FAST_RUNTIME_SPEEDUP = "up to about 2×"
#: pyproject's extra that installs it (the same as ``openvino``, named by what it does).
FAST_CPU_EXTRA = "fast-cpu"
_hinted = False


def faster_runtime_hint(requested: str, device: torch.device) -> Optional[str]:
    """What to say, once per process, on a CPU run that could use the faster runtime but lacks it."""
    global _hinted
    if _hinted or requested != "auto" or device.type != "cpu" or any(is_installed(n) for n in AUTO_ORDER):
        return None
    _hinted = True
    return (f"the network runs {FAST_RUNTIME_SPEEDUP} faster on a CPU with the faster CPU runtime: "
            f"pip install \"saltseg[{FAST_CPU_EXTRA}]\" (the Slicer module offers it in one click)")
