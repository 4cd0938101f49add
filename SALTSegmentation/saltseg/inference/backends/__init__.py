"""Runtimes for the network part of ``model.pt`` (see :mod:`saltseg.inference.backends.select`)."""
from __future__ import annotations

#: ``auto`` picks the fastest verified runtime installed for the device; the others force one.
BACKEND_CHOICES = ("auto", "torch", "openvino")
#: Arithmetic of the network on the CPU: auto (default: bfloat16 where the CPU computes it natively
#: and the probe window agrees with float32, else float32; see .precision), fp32 (SALT's labels to
#: the voxel), or bf16 (asked for on any CPU, still checked on the probe).
PRECISION_CHOICES = ("auto", "fp32", "bf16")
