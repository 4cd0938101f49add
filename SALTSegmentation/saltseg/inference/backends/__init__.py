"""Runtimes for the network part of ``model.pt`` (see :mod:`saltseg.inference.backends.select`)."""
from __future__ import annotations

#: ``auto`` picks the fastest verified runtime installed for the device; the others force one.
BACKEND_CHOICES = ("auto", "torch", "openvino")
#: Arithmetic of the network on the CPU: float32 (default, SALT's), or bfloat16 (opt-in; fast only
#: on CPUs with AVX512_BF16 or AMX, and its labels differ slightly: see PRECISION_AGREEMENT).
PRECISION_CHOICES = ("fp32", "bf16")
