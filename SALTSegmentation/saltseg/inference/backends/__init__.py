"""Runtimes for the network part of ``model.pt`` (see :mod:`saltseg.inference.backends.select`)."""
from __future__ import annotations

#: ``auto`` picks the fastest verified runtime installed for the device; the others force one.
BACKEND_CHOICES = ("auto", "torch", "openvino")
