"""The CPU a benchmark ran on, named so that numbers from different machines are never mixed up:
its name, family/model (a VM's name alone may be just "AMD EPYC"), vector extensions, and whether
it computes bfloat16 natively (saltseg's own reading, the one ``--precision auto`` uses)."""
from __future__ import annotations

import platform
from pathlib import Path

VECTOR_FLAGS = ("avx2", "fma", "avx512f", "avx512_bf16", "avx512_vnni", "amx_bf16", "amx_tile")


def cpu_name() -> str:
    """``AMD EPYC (family 25, model 17; avx2, fma, avx512f, avx512_bf16, avx512_vnni)``."""
    try:
        fields: dict[str, str] = {}
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            fields.setdefault(key.strip(), value.strip())
    except OSError:
        return platform.processor() or platform.machine()
    flags = set(fields.get("flags", "").split())
    vector = [flag for flag in VECTOR_FLAGS if flag in flags]
    return (f"{fields.get('model name', '?')} (family {fields.get('cpu family', '?')}, "
            f"model {fields.get('model', '?')}; {', '.join(vector) or 'no AVX2'})")


def cpu_summary() -> str:
    """The name plus saltseg's verdict on native bf16."""
    from saltseg.inference.backends.cpu_features import cpu_bf16

    return f"CPU {cpu_name()}, native bf16: {cpu_bf16().describe()}"
