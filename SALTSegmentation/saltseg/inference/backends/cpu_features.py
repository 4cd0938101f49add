"""Whether this CPU computes bfloat16 natively, from what the operating system reports.

bfloat16 halves the network's arithmetic only where the CPU has instructions for it: on x86
AVX512_BF16 (Cooper Lake, Sapphire Rapids and later Xeons, AMD Zen 4 and later) or AMX
(``amx_bf16``, Sapphire Rapids and later); on ARM FEAT_BF16 (Armv8.6, Apple M2 and later,
Graviton 3). Elsewhere the runtimes emulate it, slower than float32 (140× measured for torch on
an AVX2-only EPYC), so ``--precision auto`` must know before it asks for it.

Sources, first that answers: Linux's ``/proc/cpuinfo`` (x86 ``flags``, ARM ``Features``),
macOS's ``sysctl hw.optional`` (Apple silicon ``hw.optional.arm.FEAT_BF16``; Intel Macs report no
bf16 key, and no Intel Mac CPU has it), then torch's own CPUID reading (x86, any OS: Windows). The
parsers take the text, so the decision can be tested with any CPU's flags.

``SALTSEG_NATIVE_BF16=0`` in the environment makes this machine count as without native bf16, so
``--precision auto`` runs float32 in every process that inherits it (a fleet kept on identical
labels whatever its CPUs; the test suite, so that its results do not depend on the CPU it lands on).
"""
from __future__ import annotations

import functools
import logging
import os
import platform
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

logger = logging.getLogger(__name__)

ENV_NATIVE_BF16 = "SALTSEG_NATIVE_BF16"

#: Linux x86 ``flags`` that mean native bf16, strongest first (AMX tiles beat AVX-512 dot products).
X86_FLAGS = (("amx_bf16", "AMX_BF16"), ("avx512_bf16", "AVX512_BF16"))
#: macOS ``sysctl`` keys (value 1) that mean native bf16.
SYSCTL_KEYS = (("hw.optional.arm.FEAT_BF16", "FEAT_BF16"),)
#: The native features ``--precision auto`` runs bf16 on: the ones it was measured on (x86: oneDNN's
#: and OpenVINO's bf16 kernels use them). FEAT_BF16 is detected and named, but no ARM CPU was
#: measured (and neither runtime lists bf16 kernels for Apple silicon), so auto keeps float32 there.
AUTO_FEATURES = ("AMX_BF16", "AVX512_BF16")


@dataclass(frozen=True)
class CpuBf16:
    """What was found: the native bf16 feature (empty: none), and where it was read."""

    feature: str
    source: str

    @property
    def native(self) -> bool:
        return bool(self.feature)

    @property
    def used_by_auto(self) -> bool:
        return self.feature in AUTO_FEATURES

    def describe(self) -> str:
        if self.native:
            return self.feature
        if self.source == SWITCHED_OFF:
            return f"native bf16 switched off by {SWITCHED_OFF}"
        return "no native bf16 on this CPU"


#: The source of the answer when the environment switched native bf16 off.
SWITCHED_OFF = f"{ENV_NATIVE_BF16}=0"


def from_cpuinfo(text: str) -> Optional[CpuBf16]:
    """From ``/proc/cpuinfo``'s text; None when it has no flags line (nothing to go by)."""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip().lower()
        if key == "flags":  # x86
            flags = set(value.split())
            return CpuBf16(next((name for flag, name in X86_FLAGS if flag in flags), ""), "/proc/cpuinfo")
        if key == "features":  # ARM
            return CpuBf16("FEAT_BF16" if "bf16" in value.split() else "", "/proc/cpuinfo")
    return None


def from_sysctl(text: str) -> Optional[CpuBf16]:
    """From ``sysctl hw.optional``'s output (``key: value`` lines); None when it lists nothing."""
    values = {}
    for line in text.splitlines():
        key, separator, value = line.partition(":")
        if separator:
            values[key.strip()] = value.strip()
    if not values:
        return None
    return CpuBf16(next((name for key, name in SYSCTL_KEYS if values.get(key) == "1"), ""), "sysctl")


def from_torch() -> Optional[CpuBf16]:
    """From torch's CPUID reading (x86 only; None elsewhere or where torch lacks the query)."""
    if platform.machine().lower() not in ("x86_64", "amd64", "i386", "i686"):
        return None
    try:
        import torch

        if torch.cpu._is_amx_tile_supported():
            return CpuBf16("AMX_BF16", "torch CPUID")
        return CpuBf16("AVX512_BF16" if torch.cpu._is_avx512_bf16_supported() else "", "torch CPUID")
    except (AttributeError, RuntimeError):
        return None


def _read_cpuinfo() -> str:
    try:
        return Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return ""


def _read_sysctl() -> str:
    try:
        return subprocess.run(["sysctl", "hw.optional"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return ""


def detect(system: str, cpuinfo: str = "", sysctl: str = "") -> CpuBf16:
    """The answer for an OS (``platform.system()``) and the text it reported."""
    found = None
    if system == "Linux":
        found = from_cpuinfo(cpuinfo)
    elif system == "Darwin":
        found = from_sysctl(sysctl)
    return found or from_torch() or CpuBf16("", "nothing reports the CPU's features")


def cpu_bf16() -> CpuBf16:
    """This machine's answer (the CPU is read once per process; the environment every time)."""
    if os.environ.get(ENV_NATIVE_BF16, "").strip() == "0":
        return CpuBf16("", SWITCHED_OFF)
    return _this_cpu()


@functools.lru_cache(maxsize=1)
def _this_cpu() -> CpuBf16:
    system = platform.system()
    found = detect(system, _read_cpuinfo() if system == "Linux" else "",
                   _read_sysctl() if system == "Darwin" else "")
    logger.info("native bf16: %s", found.describe())
    return found
