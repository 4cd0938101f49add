"""Which arithmetic the network runs at, and the words that say why.

``--precision auto`` (the default) runs bfloat16 on the CPU where two things hold, and float32
everywhere else:

1. the CPU computes bf16 natively (:mod:`.cpu_features`: AVX512_BF16 or AMX on x86), so bf16 is
   faster there rather than emulated and slower;
2. the runtime's bf16 output on the probe window agrees with torch's float32 output
   (:func:`~.select.check_against_torch` with ``TOLERANCES["bf16"]``: ≥ 99.5 % of leaf labels
   equal and logits within 5 % of the largest) — checked on every run, on the run's own scan.

``fp32`` forces float32 (SALT's labels to the voxel; what ``--whole-model`` and fidelity checks
use); ``bf16`` asks for bf16 on any CPU (still checked on the probe). On a GPU ``auto`` and
``fp32`` keep the GPU's own arithmetic (float16 autocast on CUDA unless ``mixed_precision`` is
off); ``bf16`` is refused there (:func:`~.select.check_requested`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

from .cpu_features import CpuBf16


@dataclass(frozen=True)
class PrecisionPlan:
    """What to try first (``bf16`` or ``fp32``), and why, before the probe decides."""

    precision: str
    reason: str


@dataclass(frozen=True)
class ProbeVerdict:
    """One runtime's check on the probe window against torch's float32 output."""

    runtime: str
    precision: str  # what the runtime really ran (OpenVINO falls back to f32 on CPUs without bf16)
    accepted: bool
    agreement: float  # fraction of probe voxels whose leaf label equals float32's
    relative_difference: float  # max |Δ logit| / max(1, max |logit|)


def plan_precision(requested: str, device_type: str, cpu: CpuBf16, mixed_precision: bool = True) -> PrecisionPlan:
    """What a run on ``device_type`` tries, given the CPU's native bf16 (``cpu``)."""
    if device_type == "cuda":  # what the sliding window's autocast does
        return PrecisionPlan("fp16", "CUDA mixed precision") if mixed_precision else \
            PrecisionPlan("fp32", "CUDA, mixed precision off")
    if device_type != "cpu":
        return PrecisionPlan("fp32", device_type.upper())
    if requested == "fp32":
        return PrecisionPlan("fp32", "asked for")
    if requested == "bf16":
        return PrecisionPlan("bf16", "asked for" + ("" if cpu.native else ", emulated: no native bf16"))
    if not cpu.native:
        return PrecisionPlan("fp32", cpu.describe())
    if not cpu.used_by_auto:
        return PrecisionPlan("fp32", f"{cpu.feature} on this CPU, but bf16 is not measured on it; "
                                     "ask for precision bf16 to try it (--precision bf16)")
    return PrecisionPlan("bf16", cpu.feature)


def percent_floor(fraction: float) -> str:
    """``99.97 %`` → ``99.9 %``: never rounds a disagreement up to 100 %."""
    return f"{math.floor(1000 * fraction) / 10:.1f} %"


def precision_summary(plan: PrecisionPlan, verdicts: list[ProbeVerdict], chosen: Optional[ProbeVerdict],
                      label_agreement: float, logit_tolerance: float) -> str:
    """``bf16 (AVX512_BF16, probe agreed 99.9 %)``, ``fp32 (no native bf16 on this CPU)``, …:
    the precision that ran and why, for the run's summary line."""
    if chosen is not None and chosen.precision == "bf16":
        return f"bf16 ({plan.reason}, probe agreed {percent_floor(chosen.agreement)})"
    if plan.precision != "bf16":
        return f"{plan.precision} ({plan.reason})"
    tried = [verdict for verdict in verdicts if verdict.precision == "bf16"]
    if not tried:
        ran_fp32 = [verdict.runtime for verdict in verdicts if verdict.precision != "bf16"]
        if ran_fp32:
            return f"fp32 ({ran_fp32[0]} has no bf16 kernels for this CPU)"
        return "fp32 (no runtime could run bf16)"
    verdict = tried[0]
    if verdict.agreement < label_agreement:
        why = (f"bf16 probe agreed only {percent_floor(verdict.agreement)} of leaf labels, "
               f"below {100 * label_agreement:g} %")
    else:
        why = (f"bf16 probe's logits off by {100 * verdict.relative_difference:.1f} % of the largest, "
               f"above {100 * logit_tolerance:g} %")
    return f"fp32 ({why})"
